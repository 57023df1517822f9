import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';
import { storedAuditEvents } from './support/audit-events.ts';

const postgresSkip = await postgresSkipReason();
const enc = encodeURIComponent;

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `Secrets Manager (${engine})`,
    { skip: engine === 'postgres' ? (postgresSkip ?? false) : false },
    () => {
      let node: TestNode;
      let admin: string;
      let database: TestDatabase | undefined;
      const clock = new ManualClock(Date.UTC(2026, 6, 1));
      let projectId: string;
      let instanceBase: string;
      let ringPath: string;
      let keyName: string;
      let keyPath: string;

      const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
        call(node.url, method, path, { token: admin, ...(body !== undefined ? { body } : {}), headers });
      const secretPath = (path: string) => `${instanceBase}/secrets/${enc(path)}`;
      const createSecret = async (body: Record<string, unknown>) => {
        const res = await api('POST', `${instanceBase}/secrets`, body);
        assert.equal(res.status, 201, JSON.stringify(res.body));
        return res.body;
      };
      const eventsOf = (requestId: string) => storedAuditEvents(node.app.storage.db, { requestId });

      before(async () => {
        const env: Record<string, string> = {
          COFFER_REGIONS: 'eu01,eu02,us01',
          COFFER_KMS_REGIONS: 'eu01,eu02',
        };
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        node = await startTestNode({ env, clock });
        admin = node.adminToken!;
        projectId = (await api('POST', '/v2/projects', {})).body.id;
        const instance = await api('POST', `/v2/projects/${projectId}/regions/eu01/instances`, {
          name: 'main',
        });
        assert.equal(instance.status, 201, JSON.stringify(instance.body));
        instanceBase = `/v2/projects/${projectId}/regions/eu01/instances/${instance.body.id}`;
        const ring = (
          await api('POST', `/v2/projects/${projectId}/regions/eu01/keyrings`, { displayName: 'r' })
        ).body.id;
        ringPath = `/v2/projects/${projectId}/regions/eu01/keyrings/${ring}`;
        const key = await api('POST', `${ringPath}/keys`, {
          algorithm: 'aes256-gcm96',
          slug: 'prod-secrets',
        });
        keyName = key.body.name;
        keyPath = `${ringPath}/keys/${key.body.id}`;
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('a secret under the built-in root-key protection: create with a value, read latest, one audit event', async () => {
        const secret = await createSecret({
          path: 'app/db/password',
          value: 's3cr3t',
          labels: { team: 'payments' },
        });
        assert.equal(
          secret.name,
          `projects/${projectId}/regions/eu01/instances/${secret.instanceId}/secrets/app%2Fdb%2Fpassword`,
        );
        assert.deepEqual(secret.kmsKey, { identity: null, status: 'active' });
        assert.equal(secret.latestVersion, 1);
        const read = await api('GET', `${secretPath('app/db/password')}/value`, undefined, {
          'x-request-id': `root-${engine}`,
        });
        assert.equal(read.status, 200);
        assert.equal(read.headers.get('cache-control'), 'no-store');
        assert.deepEqual(
          { value: read.body.value, version: read.body.version, stages: read.body.stages },
          { value: 's3cr3t', version: 1, stages: ['current'] },
        );
        const events = await eventsOf(`root-${engine}`);
        assert.deepEqual(
          events.map((e) => e.action),
          ['secrets.get_value'],
        );
      });

      test('a KMS-bound reveal writes exactly secrets.get_value and kms.decrypt with one request id; a put the encrypt pair', async () => {
        const secret = await createSecret({ path: 'kms/bound', kmsKeyIdentity: 'prod-secrets', value: 'v1' });
        assert.deepEqual(secret.kmsKey, { identity: keyName, status: 'active' });
        const read = await api('GET', `${secretPath('kms/bound')}/value`, undefined, {
          'x-request-id': `reveal-${engine}`,
        });
        assert.equal(read.body.value, 'v1');
        const events = await eventsOf(`reveal-${engine}`);
        assert.deepEqual(
          events.map((e) => [e.action, e.principal, e.on_behalf_of]),
          [
            ['secrets.get_value', 'user:admin@coffer.internal', null],
            ['kms.decrypt', 'service:secretsmanager', 'user:admin@coffer.internal'],
          ],
        );
        assert.equal(events[1]!.resource, keyName);
        assert.deepEqual(JSON.parse(events[1]!.details!).keyVersion, 1);
        const put = await api(
          'PUT',
          `${secretPath('kms/bound')}/value`,
          { value: 'v2' },
          { 'x-request-id': `put-${engine}` },
        );
        assert.equal(put.status, 201);
        assert.deepEqual(
          (await eventsOf(`put-${engine}`)).map((e) => e.action),
          ['secrets.put_value', 'kms.encrypt'],
        );
        const all = JSON.stringify(
          await node.app.storage.db.selectFrom('audit_events').selectAll().execute(),
        );
        assert.ok(!all.includes('"v2"') && !all.includes('s3cr3t'));
      });

      test('key rotation never requires re-encrypting values: old versions still read after rotate', async () => {
        await createSecret({ path: 'rotating', kmsKeyIdentity: keyName, value: 'before' });
        await api('POST', `${keyPath}/rotate`);
        await api('PUT', `${secretPath('rotating')}/value`, { value: 'after' });
        assert.equal((await api('GET', `${secretPath('rotating')}/value?version=1`)).body.value, 'before');
        assert.equal((await api('GET', `${secretPath('rotating')}/value`)).body.value, 'after');
      });

      test('versions and stages: current/previous, by number and by stage, disabled and destroyed versions', async () => {
        await createSecret({ path: 'staged', value: 'one' });
        await api('PUT', `${secretPath('staged')}/value`, { value: 'two' });
        await api('PUT', `${secretPath('staged')}/value`, { value: 'three', stages: ['pending'] });
        const stages = await api('GET', `${secretPath('staged')}/stages`);
        assert.deepEqual(stages.body.items, [
          { stage: 'current', version: 2 },
          { stage: 'pending', version: 3 },
          { stage: 'previous', version: 1 },
        ]);
        assert.equal((await api('GET', `${secretPath('staged')}/value?stage=previous`)).body.value, 'one');
        assert.equal(
          (await api('GET', `${secretPath('staged')}/value?version=2&stage=current`)).body.value,
          'two',
        );
        assert.equal((await api('GET', `${secretPath('staged')}/value?version=1&stage=current`)).status, 400);
        assert.equal((await api('GET', `${secretPath('staged')}/value?version=9`)).status, 404);
        assert.equal((await api('GET', `${secretPath('staged')}/value?version=abc`)).status, 400);
        assert.equal(
          (await api('POST', `${secretPath('staged')}/versions/3/disable`)).body.state,
          'disabled',
        );
        assert.equal(
          (await api('GET', `${secretPath('staged')}/value`)).body.version,
          2,
          'latest skips a disabled version',
        );
        const disabled = await api('GET', `${secretPath('staged')}/value?version=3`);
        assert.equal(disabled.status, 400);
        assert.equal(disabled.body.error.code, 'failed_precondition');
        assert.equal(
          (await api('GET', `${secretPath('staged')}/value?stage=pending`)).body.error.code,
          'failed_precondition',
        );
        const destroyed = await api('POST', `${secretPath('staged')}/versions/1/destroy`);
        assert.equal(destroyed.body.state, 'destroyed');
        assert.ok(destroyed.body.destroyTime);
        assert.equal(
          (await api('GET', `${secretPath('staged')}/value?version=1`)).body.error.code,
          'failed_precondition',
        );
        assert.equal((await api('POST', `${secretPath('staged')}/versions/1/enable`)).status, 400);
        const row = await node.app.storage.db
          .selectFrom('sm_versions')
          .select(['ciphertext', 'wrapped_key'])
          .where('version', '=', 1)
          .where(
            'secret_uid',
            '=',
            (
              await node.app.storage.db
                .selectFrom('sm_secrets')
                .select('uid')
                .where('path', '=', 'staged')
                .executeTakeFirstOrThrow()
            ).uid,
          )
          .executeTakeFirstOrThrow();
        assert.deepEqual([row.ciphertext, row.wrapped_key], [null, null], 'destroy erases the ciphertext');
        assert.equal(
          (await api('PUT', `${secretPath('staged')}/stages/current`, { version: 3 })).status,
          200,
        );
        assert.equal(
          (await api('PUT', `${secretPath('staged')}/stages/live`, { version: 1 })).status,
          400,
          'no stage on a destroyed version',
        );
        const versions = await api('GET', `${secretPath('staged')}/versions`);
        assert.deepEqual(
          versions.body.items.map((v: { version: number; state: string }) => [v.version, v.state]),
          [
            [1, 'destroyed'],
            [2, 'enabled'],
            [3, 'disabled'],
          ],
        );
        assert.equal(versions.body.items[1].createdBy, 'user:admin@coffer.internal');
        await api('POST', `${secretPath('staged')}/versions/2/disable`);
        assert.equal((await api('GET', `${secretPath('staged')}/value`)).status, 404, 'no enabled version');
      });

      test('binary values round-trip byte for byte', async () => {
        const bytes = Buffer.from([0, 255, 1, 254, 0x80, 0x7f]);
        await createSecret({ path: 'bin', binaryValue: bytes.toString('base64') });
        const read = await api('GET', `${secretPath('bin')}/value`);
        assert.equal(read.body.value, undefined);
        assert.deepEqual(Buffer.from(read.body.binaryValue, 'base64'), bytes);
      });

      test('check-and-set and idempotency keys: stale expectedLatestVersion is 409 and writes nothing; a repeated key adds one version', async () => {
        await createSecret({ path: 'cas', value: 'a' });
        const stale = await api('PUT', `${secretPath('cas')}/value`, {
          value: 'b',
          expectedLatestVersion: 0,
        });
        assert.equal(stale.status, 409);
        assert.equal(
          (await api('PUT', `${secretPath('cas')}/value`, { value: 'b', expectedLatestVersion: 1 })).body
            .version,
          2,
        );
        const first = await api(
          'PUT',
          `${secretPath('cas')}/value`,
          { value: 'c' },
          { 'idempotency-key': 'retry-1' },
        );
        const again = await api(
          'PUT',
          `${secretPath('cas')}/value`,
          { value: 'c' },
          { 'idempotency-key': 'retry-1' },
        );
        assert.deepEqual([first.body.version, again.body.version], [3, 3]);
        assert.equal((await api('GET', secretPath('cas'))).body.latestVersion, 3);
      });

      test('concurrent puts to one secret give contiguous versions, none lost, none duplicated', async () => {
        await createSecret({ path: 'busy' });
        const answers = await Promise.all(
          Array.from({ length: 16 }, (_, i) => api('PUT', `${secretPath('busy')}/value`, { value: `v${i}` })),
        );
        assert.ok(
          answers.every((a) => a.status === 201),
          JSON.stringify(answers.map((a) => a.body)),
        );
        const numbers = answers.map((a) => a.body.version as number).sort((a, b) => a - b);
        assert.deepEqual(
          numbers,
          Array.from({ length: 16 }, (_, i) => i + 1),
        );
        const versions = await api('GET', `${secretPath('busy')}/versions`);
        assert.equal(versions.body.items.length, 16);
      });

      test('bad input: paths, sizes, both values, keys that cannot be bound, immutable binding, duplicates, stale etags', async () => {
        for (const path of ['sp ace', 'x'.repeat(513), '.', '..', 'ü', 'a:b', 'a#b', 'a*b', '']) {
          const res = await api('POST', `${instanceBase}/secrets`, { path });
          assert.equal(res.status, 400, path);
        }
        // AWS's secret-name characters, on this face too (one rule for both faces).
        for (const path of ['/lead', 'trail/', 'a//b', 'a/../b', 'user+tag=v@example.com', '.x']) {
          const res = await api('POST', `${instanceBase}/secrets`, { path, value: path });
          assert.equal(res.status, 201, path);
          const read = await api('GET', `${instanceBase}/secrets/${encodeURIComponent(path)}/value`);
          assert.equal(read.body.value, path);
        }
        assert.equal((await api('POST', `${instanceBase}/secrets`, { path: 'x'.repeat(512) })).status, 201);
        const big = await api('POST', `${instanceBase}/secrets`, {
          path: 'big',
          value: 'x'.repeat(64 * 1024 + 1),
        });
        assert.equal(big.status, 413);
        assert.equal(
          (await api('POST', `${instanceBase}/secrets`, { path: 'both', value: 'a', binaryValue: 'YQ==' }))
            .status,
          400,
        );
        const signing = await api('POST', `${ringPath}/keys`, { algorithm: 'ecdsa-p256', slug: 'signer' });
        assert.equal(
          (await api('POST', `${instanceBase}/secrets`, { path: 'asym', kmsKeyIdentity: signing.body.name }))
            .status,
          400,
        );
        assert.equal(
          (await api('POST', `${instanceBase}/secrets`, { path: 'nokey', kmsKeyIdentity: 'no-such-key' }))
            .status,
          400,
        );
        const farRing = (
          await api('POST', `/v2/projects/${projectId}/regions/eu02/keyrings`, { displayName: 'far' })
        ).body.id;
        const far = await api('POST', `/v2/projects/${projectId}/regions/eu02/keyrings/${farRing}/keys`, {
          algorithm: 'aes256-gcm96',
        });
        const mismatch = await api('POST', `${instanceBase}/secrets`, {
          path: 'far',
          kmsKeyIdentity: far.body.name,
        });
        assert.equal(mismatch.status, 400);
        assert.equal(mismatch.body.error.code, 'region_mismatch');
        await createSecret({ path: 'immutable', kmsKeyIdentity: 'prod-secrets' });
        assert.equal((await api('PATCH', secretPath('immutable'), { kmsKeyIdentity: 'signer' })).status, 400);
        assert.equal((await api('POST', `${instanceBase}/secrets`, { path: 'immutable' })).status, 409);
        const meta = await api('GET', secretPath('immutable'));
        assert.equal(
          (await api('PATCH', secretPath('immutable'), { labels: { a: 'b' }, etag: meta.body.etag })).status,
          200,
        );
        const stale = await api('PATCH', secretPath('immutable'), {
          labels: { a: 'c' },
          etag: meta.body.etag,
        });
        assert.equal(stale.status, 409);
        assert.deepEqual((await api('GET', secretPath('immutable'))).body.labels, { a: 'b' });
        assert.equal((await api('PUT', `${secretPath('immutable')}/value`, {})).status, 400);
        assert.equal((await api('GET', `${instanceBase}/secrets/${enc('missing')}/value`)).status, 404);
      });

      test('seed 000’s state table: a disabled or deleting key refuses values with key_not_active, metadata stays readable', async () => {
        const key = await api('POST', `${ringPath}/keys`, {
          algorithm: 'chacha20-poly1305',
          slug: 'stateful',
        });
        const path = `${ringPath}/keys/${key.body.id}`;
        await createSecret({ path: 'stateful', kmsKeyIdentity: 'stateful', value: 'v' });
        const dependents = await api('GET', `${path}/dependents`);
        assert.deepEqual(dependents.body.secrets, [`${instanceBase.slice(4)}/secrets/stateful`]);
        const guarded = await api('POST', `${path}/disable`);
        assert.equal(guarded.status, 409, 'a key with dependents needs force');
        for (const [state, action, body] of [
          ['disabled', 'disable', undefined],
          ['pending_deletion', 'schedule-deletion', { pendingWindowDays: 7 }],
        ] as const) {
          if (state === 'pending_deletion') await api('POST', `${path}/enable`);
          assert.equal((await api('POST', `${path}/${action}?force=true`, body)).body.state, state);
          const get = await api('GET', `${secretPath('stateful')}/value`);
          assert.equal(get.status, 400, state);
          assert.equal(get.body.error.code, 'key_not_active');
          const put = await api('PUT', `${secretPath('stateful')}/value`, { value: 'w' });
          assert.equal(put.body.error.code, 'key_not_active');
          const meta = await api('GET', secretPath('stateful'));
          assert.equal(meta.status, 200);
          assert.equal(meta.body.kmsKey.status, state);
        }
        await api('POST', `${path}/cancel-deletion`);
        await api('POST', `${path}/enable`);
        assert.equal((await api('GET', `${secretPath('stateful')}/value`)).body.value, 'v');
        const notActive = await api('POST', `${instanceBase}/secrets`, {
          path: 'late',
          kmsKeyIdentity: 'signer',
        });
        assert.equal(notActive.status, 400);
      });

      test('a region without KMS answers value operations 503 kms_unavailable; the secrets gate off answers 403 feature_disabled', async () => {
        const us = await api('POST', `/v2/projects/${projectId}/regions/us01/instances`, { name: 'no-kms' });
        assert.equal(us.status, 201);
        const base = `/v2/projects/${projectId}/regions/us01/instances/${us.body.id}/secrets`;
        const res = await api('GET', `${base}/x/value`);
        assert.equal(res.status, 503);
        assert.equal(res.body.error.code, 'kms_unavailable');
        const gated = (await api('POST', '/v2/projects', { features: { secrets: false } })).body.id;
        const off = await api('GET', `/v2/projects/${gated}/regions/eu01/instances`);
        assert.equal(off.status, 403);
        assert.equal(off.body.error.code, 'feature_disabled');
      });

      test('soft delete: metadata readable, values refused, path reserved, restore; 0 purges at once; the window purges', async () => {
        await createSecret({ path: 'doomed', value: 'x' });
        const deleted = await api('DELETE', `${secretPath('doomed')}?recoveryWindowDays=3`);
        assert.equal(deleted.status, 200);
        assert.ok(deleted.body.deleteTime);
        assert.equal((await api('GET', secretPath('doomed'))).status, 200);
        assert.equal(
          (await api('GET', `${secretPath('doomed')}/value`)).body.error.code,
          'failed_precondition',
        );
        assert.equal(
          (await api('PUT', `${secretPath('doomed')}/value`, { value: 'y' })).body.error.code,
          'failed_precondition',
        );
        assert.equal((await api('POST', `${instanceBase}/secrets`, { path: 'doomed' })).status, 409);
        assert.equal((await api('POST', `${secretPath('doomed')}/restore`)).body.deleteTime, null);
        assert.equal((await api('GET', `${secretPath('doomed')}/value`)).body.value, 'x');
        await api('DELETE', `${secretPath('doomed')}?recoveryWindowDays=3`);
        clock.advance(3 * 86_400_000 + 1);
        await node.app.runBackgroundJobs();
        assert.equal((await api('GET', secretPath('doomed'))).status, 404);
        await createSecret({ path: 'gone-now', value: 'x' });
        assert.equal((await api('DELETE', `${secretPath('gone-now')}?recoveryWindowDays=0`)).status, 204);
        assert.equal((await api('GET', secretPath('gone-now'))).status, 404);
        assert.equal((await api('DELETE', `${secretPath('gone-now')}?recoveryWindowDays=31`)).status, 400);
      });

      test('expiry purges (audited) and rotation schedules record rotation_due and advance', async () => {
        await createSecret({ path: 'short-lived', value: 'x', ttl: '3600s' });
        const rotating = await createSecret({
          path: 'scheduled',
          value: 'x',
          rotation: { period: '86400s' },
        });
        assert.equal(rotating.rotation.period, '86400s');
        clock.advance(86_400_000);
        await node.app.runBackgroundJobs();
        assert.equal((await api('GET', secretPath('short-lived'))).status, 404);
        const after = await api('GET', secretPath('scheduled'));
        assert.equal(
          Date.parse(after.body.rotation.nextRotationTime),
          Date.parse(rotating.rotation.nextRotationTime) + 86_400_000,
        );
        const actions = (await storedAuditEvents(node.app.storage.db))
          .filter((e) => e.principal === 'service:secretsmanager')
          .map((e) => e.action);
        assert.ok(actions.includes('secrets.secrets.expire'));
        assert.ok(actions.includes('secrets.rotation_due'));
      });

      test('list by prefix with paging, metadata only', async () => {
        for (const p of ['list/a', 'list/b', 'list/c', 'listing'])
          await createSecret({ path: p, value: 'secret-value' });
        const page = await api('GET', `${instanceBase}/secrets?prefix=list/&pageSize=2`);
        assert.deepEqual(
          page.body.items.map((s: { path: string }) => s.path),
          ['list/a', 'list/b'],
        );
        const next = await api(
          'GET',
          `${instanceBase}/secrets?prefix=list/&pageSize=2&pageToken=${page.body.nextPageToken}`,
        );
        assert.deepEqual(
          next.body.items.map((s: { path: string }) => s.path),
          ['list/c'],
        );
        assert.ok(!JSON.stringify(page.body).includes('secret-value'));
      });

      test('batchGetValues returns what the caller may read and a per-secret error for the rest, one event each', async () => {
        await createSecret({ path: 'batch/one', value: '1' });
        await createSecret({ path: 'batch/two', value: '2' });
        const res = await api(
          'POST',
          `${instanceBase}/secrets:batchGetValues`,
          { secrets: ['batch/one', 'batch/two', 'batch/none'] },
          { 'x-request-id': `batch-${engine}` },
        );
        assert.equal(res.status, 200);
        assert.deepEqual(
          res.body.values.map((v: { path: string; value: string }) => [v.path, v.value]),
          [
            ['batch/one', '1'],
            ['batch/two', '2'],
          ],
        );
        assert.deepEqual(res.body.errors, [
          { path: 'batch/none', error: { code: 'not_found', message: 'Secret batch/none was not found.' } },
        ]);
        const actions = (await eventsOf(`batch-${engine}`)).map((e) => e.action);
        assert.deepEqual(actions.sort(), [
          'secrets.batch_get_values',
          'secrets.get_value',
          'secrets.get_value',
          'secrets.get_value',
        ]);
        assert.equal(
          (
            await api('POST', `${instanceBase}/secrets:batchGetValues`, {
              secrets: Array.from({ length: 21 }, (_, i) => `s${i}`),
            })
          ).status,
          400,
        );
      });

      test('instances: an instance with secrets cannot be deleted; an empty one can', async () => {
        assert.equal((await api('DELETE', instanceBase)).status, 400);
        const spare = await api('POST', `/v2/projects/${projectId}/regions/eu01/instances`, {
          name: 'spare',
        });
        assert.equal(
          (await api('DELETE', `/v2/projects/${projectId}/regions/eu01/instances/${spare.body.id}`)).status,
          204,
        );
      });
    },
  );
}
