import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { startRotationHook } from './support/rotation-hook.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';
import { storedAuditEvents } from './support/audit-events.ts';

const postgresSkip = await postgresSkipReason();
const enc = encodeURIComponent;

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `Rotation with the random rotator (${engine})`,
    { skip: engine === 'postgres' ? (postgresSkip ?? false) : false },
    () => {
      let node: TestNode;
      let admin: string;
      let database: TestDatabase | undefined;
      const clock = new ManualClock(Date.UTC(2026, 6, 1));
      let projectId: string;
      let instanceBase: string;
      let instanceName: string;
      let otherBase: string;

      const as = (token: string) => (method: string, path: string, body?: unknown) =>
        call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
      const api = (method: string, path: string, body?: unknown) => as(admin)(method, path, body);
      const secretPath = (path: string, base = instanceBase) => `${base}/secrets/${enc(path)}`;
      const valueOf = async (path: string, query = '') => {
        const res = await api('GET', `${secretPath(path)}/value${query}`);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        return res.body as { value: string; version: number; stages: string[] };
      };
      const create = async (body: Record<string, unknown>, base = instanceBase) => {
        const res = await api('POST', `${base}/secrets`, body);
        assert.equal(res.status, 201, JSON.stringify(res.body));
        return res.body;
      };
      const rotateEvents = (resource: string) =>
        node.app.storage.db
          .selectFrom('audit_events')
          .select(['action', 'principal', 'details', 'result'])
          .where('resource', '=', resource)
          .where('action', '=', 'secrets.secrets.rotate')
          .orderBy('seq')
          .execute();
      async function serviceAccount(name: string) {
        const created = await api('POST', `/v2/projects/${projectId}/service-accounts`, { name });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const email = created.body.email as string;
        const issued = await api(
          'POST',
          `/v2/projects/${projectId}/service-accounts/${enc(email)}/tokens`,
          {},
        );
        assert.equal(issued.status, 201, JSON.stringify(issued.body));
        return { token: issued.body.token as string, member: `serviceAccount:${email}` };
      }

      before(async () => {
        const env: Record<string, string> = {
          COFFER_REGIONS: 'eu01',
          COFFER_BACKGROUND_INTERVAL_MS: '3600000',
        };
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        node = await startTestNode({ env, clock });
        admin = node.adminToken!;
        projectId = (await api('POST', '/v2/projects', {})).body.id;
        const base = `/v2/projects/${projectId}/regions/eu01/instances`;
        const instance = await api('POST', base, { name: 'main' });
        assert.equal(instance.status, 201, JSON.stringify(instance.body));
        instanceBase = `${base}/${instance.body.id}`;
        instanceName = instance.body.name;
        const other = await api('POST', base, { name: 'other' });
        otherBase = `${base}/${other.body.id}`;
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('rotate now: a new random value becomes current, the old one previous, one audit event per step, the feed tells', async () => {
        const created = await create({
          path: 'app/token',
          value: 'first-value',
          rotation: { rotator: { type: 'random', length: 40, charset: 'hex' } },
        });
        assert.deepEqual(created.rotation, {
          period: null,
          nextRotationTime: null,
          rotator: { type: 'random', length: 40, charset: 'hex' },
        });
        assert.deepEqual(created.rotationStatus, {
          state: 'idle',
          attempts: 0,
          lastSuccessTime: null,
          lastFailure: null,
        });
        const rotated = await api('POST', `${secretPath('app/token')}/rotate`);
        assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
        assert.equal(rotated.body.version, 2);
        assert.deepEqual(rotated.body.rotationStatus, {
          state: 'idle',
          attempts: 0,
          lastSuccessTime: new Date(clock.nowMs()).toISOString(),
          lastFailure: null,
        });
        const current = await valueOf('app/token');
        assert.match(current.value, /^[0-9a-f]{40}$/);
        assert.deepEqual([current.version, current.stages], [2, ['current']]);
        const previous = await valueOf('app/token', '?stage=previous');
        assert.deepEqual([previous.value, previous.version], ['first-value', 1]);
        const stages = await api('GET', `${secretPath('app/token')}/stages`);
        assert.equal(JSON.stringify(stages.body).includes('pending'), false, JSON.stringify(stages.body));

        const name = `${instanceName}/secrets/${enc('app/token')}`;
        const events = await rotateEvents(created.name);
        assert.ok(name.length > 0);
        const steps = events
          .filter((e) => e.details !== null)
          .map((e) => JSON.parse(e.details!) as Record<string, unknown>);
        assert.deepEqual(steps, [
          { step: 'create', result: 'ok', version: 2 },
          { step: 'set', result: 'ok', version: 2 },
          { step: 'test', result: 'ok', version: 2 },
          { step: 'finish', result: 'ok', version: 2 },
        ]);
        assert.ok(events.every((e) => e.principal === 'user:admin@coffer.internal' && e.result === 'ok'));
        assert.equal(JSON.stringify(events).includes(current.value), false, 'no value in audit');

        await node.app.syncChanges();
        const feed = await api('GET', `/v2/projects/${projectId}/changes?pageSize=1000`);
        const kinds = (
          feed.body.items as Array<{ type: string; resource: string; version?: number; stage?: string }>
        )
          .filter((c) => c.resource === created.name)
          .map((c) => [c.type, c.version, c.stage]);
        assert.deepEqual(kinds.slice(-2), [
          ['version.added', 2, undefined],
          ['stage.moved', 2, 'current'],
        ]);
      });

      test('GET and list show rotation.rotator and rotationStatus; a rotate without a rotator is failed_precondition', async () => {
        const got = await api('GET', secretPath('app/token'));
        assert.equal(got.body.rotationStatus.state, 'idle');
        assert.equal(got.body.rotation.rotator.type, 'random');
        const listed = await api('GET', `${instanceBase}/secrets?prefix=app/`);
        const item = listed.body.items.find((s: { path: string }) => s.path === 'app/token');
        assert.equal(item.rotationStatus.state, 'idle');
        await create({ path: 'plain', value: 'v' });
        const plain = await api('GET', secretPath('plain'));
        assert.equal(plain.body.rotationStatus, null);
        assert.equal(plain.body.rotation, null);
        const refused = await api('POST', `${secretPath('plain')}/rotate`);
        assert.equal(refused.status, 400);
        assert.equal(refused.body.error.code, 'failed_precondition');
      });

      test('bad rotators are refused at the edge and by the service, and nothing is stored', async () => {
        const cases: Array<[unknown, number, string]> = [
          [{ type: 'random', length: 4 }, 400, 'invalid_argument'],
          [{ type: 'random', charset: 'hex', exclude: '0123456789abcde' }, 400, 'invalid_argument'],
          [{ type: 'shell', command: 'rm -rf /' }, 400, 'invalid_argument'],
          [
            { type: 'webhook', url: 'http://example.com/hook', signingSecret: 'plain' },
            400,
            'invalid_argument',
          ],
          [
            { type: 'webhook', url: 'https://hooks.example.com/x', signingSecret: 'missing' },
            400,
            'invalid_argument',
          ],
          [
            {
              type: 'webhook',
              url: 'https://hooks.example.com/x',
              signingSecret: 'projects/other/regions/eu01/instances/i/secrets/k',
            },
            400,
            'invalid_argument',
          ],
          [
            { type: 'webhook', url: 'https://hooks.example.com/x', signingSecret: 'bad-ref' },
            400,
            'invalid_argument',
          ],
          // single-user names its role in the configuration: never taken from a value.
          [
            { type: 'postgresql', connectionSecret: 'plain', strategy: 'single-user' },
            400,
            'invalid_argument',
          ],
        ];
        for (const [rotator, status, code] of cases) {
          const res = await api('POST', `${instanceBase}/secrets`, {
            path: 'bad-ref',
            rotation: { rotator },
          });
          assert.equal(res.status, status, JSON.stringify([rotator, res.body]));
          assert.equal(res.body.error.code, code, JSON.stringify(res.body));
        }
        assert.equal((await api('GET', secretPath('bad-ref'))).status, 404);
        const pgRotator = {
          type: 'postgresql',
          connectionSecret: 'plain',
          strategy: 'alternate-users',
          usernames: ['app_a', 'app_a'],
        };
        const same = await api('POST', `${instanceBase}/secrets`, {
          path: 'pg',
          rotation: { rotator: pgRotator },
        });
        assert.equal(same.status, 400, JSON.stringify(same.body));
        // 'plain' holds no connection JSON: the target cannot be pinned from it.
        const unpinned = await api('POST', `${instanceBase}/secrets`, {
          path: 'pg',
          rotation: { rotator: { ...pgRotator, usernames: ['app_a', 'app_b'] } },
        });
        assert.equal(unpinned.status, 400, JSON.stringify(unpinned.body));
        const pins = { host: 'db.example.com', port: 5433, database: 'app', sslmode: 'verify-full' };
        const pg = await create({
          path: 'pg',
          rotation: { rotator: { ...pgRotator, ...pins, usernames: ['app_a', 'app_b'] } },
        });
        assert.deepEqual(pg.rotation.rotator.usernames, ['app_a', 'app_b']);
        assert.equal(pg.rotation.rotator.host, 'db.example.com');
      });

      test('a rotator can reference only secrets the caller may read: 403 at create and PATCH, nothing stored', async () => {
        await create({ path: 'hook/key', value: 'signing-key-bytes' });
        await create({ path: 'elsewhere/key', value: 'other-key' }, otherBase);
        await create({ path: 'svc/token', value: 'v1' });
        const sa = await serviceAccount('rotation-setter');
        // Admin of the main instance (so of its secrets), nothing on the other instance.
        const bound = await api('POST', `${instanceBase}/iam-policy:add-binding`, {
          role: 'roles/secretsmanager.admin',
          member: sa.member,
        });
        assert.equal(bound.status, 200, JSON.stringify(bound.body));
        const foreign = `${otherBase.slice('/v2/'.length)}/secrets/${enc('elsewhere/key')}`;
        const hook = { type: 'webhook', url: 'https://hooks.example.com/rotate' };
        const denied = await as(sa.token)('POST', `${instanceBase}/secrets`, {
          path: 'svc/new',
          rotation: { rotator: { ...hook, signingSecret: foreign } },
        });
        assert.equal(denied.status, 403, JSON.stringify(denied.body));
        assert.equal((await api('GET', secretPath('svc/new'))).status, 404);
        const patched = await as(sa.token)('PATCH', secretPath('svc/token'), {
          rotation: { rotator: { ...hook, signingSecret: foreign } },
        });
        assert.equal(patched.status, 403, JSON.stringify(patched.body));
        assert.equal((await api('GET', secretPath('svc/token'))).body.rotation, null);
        // A secret it may read (its instance's) is accepted, as a path or a full name.
        const allowed = await as(sa.token)('PATCH', secretPath('svc/token'), {
          rotation: { period: '86400s', rotator: { ...hook, signingSecret: 'hook/key' } },
        });
        assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
        assert.equal(allowed.body.rotation.rotator.signingSecret, 'hook/key');
        assert.equal(allowed.body.rotation.period, '86400s');
        // The admin may reference the foreign secret (same project).
        const byAdmin = await api('PATCH', secretPath('svc/token'), {
          rotation: { rotator: { ...hook, signingSecret: foreign } },
        });
        assert.equal(byAdmin.status, 200, JSON.stringify(byAdmin.body));
        // Nobody may reference the rotated secret itself.
        const self = await api('PATCH', secretPath('svc/token'), {
          rotation: { rotator: { ...hook, signingSecret: 'svc/token' } },
        });
        assert.equal(self.status, 400, JSON.stringify(self.body));
        // Metadata rights alone do not let a caller set a rotator (a webhook would receive the value).
        const role = await api('POST', `/v2/projects/${projectId}/roles`, {
          roleId: 'metadataEditor',
          title: 'Metadata editor',
          permissions: ['secrets.secrets.get', 'secrets.secrets.update'],
        });
        assert.equal(role.status, 201, JSON.stringify(role.body));
        const editor = await serviceAccount('rotation-editor');
        await api('POST', `${secretPath('svc/token')}/iam-policy:add-binding`, {
          role: role.body.name,
          member: editor.member,
        });
        const sneaky = await as(editor.token)('PATCH', secretPath('svc/token'), {
          rotation: { rotator: { type: 'random' } },
        });
        assert.equal(sneaky.status, 403, JSON.stringify(sneaky.body));
        assert.match(sneaky.body.error.message, /secrets\.get_value/);
        const labels = await as(editor.token)('PATCH', secretPath('svc/token'), { labels: { team: 'a' } });
        assert.equal(labels.status, 200, JSON.stringify(labels.body));
        // ...nor remove or replace one: `rotation: null`, or a rotation without the rotator.
        const shown = labels.body.rotation;
        for (const rotation of [null, { period: '7200s' }]) {
          const removed = await as(editor.token)('PATCH', secretPath('svc/token'), { rotation });
          assert.equal(removed.status, 403, JSON.stringify([rotation, removed.body]));
        }
        assert.deepEqual((await api('GET', secretPath('svc/token'))).body.rotation, shown);
        // Changing the period alone, the rotator sent back as shown, needs only update.
        const period = await as(editor.token)('PATCH', secretPath('svc/token'), {
          rotation: { ...shown, period: '7200s', nextRotationTime: null },
        });
        assert.equal(period.status, 200, JSON.stringify(period.body));
        assert.equal(period.body.rotation.period, '7200s');
        assert.deepEqual(period.body.rotation.rotator, shown.rotator);
        // Rotating needs secrets.secrets.rotate: a reader of the secret cannot.
        const reader = await serviceAccount('rotation-reader');
        await api('POST', `${secretPath('app/token')}/iam-policy:add-binding`, {
          role: 'roles/secretsmanager.secretAccessor',
          member: reader.member,
        });
        const noRotate = await as(reader.token)('POST', `${secretPath('app/token')}/rotate`);
        assert.equal(noRotate.status, 403, JSON.stringify(noRotate.body));
      });

      test('the schedule rotates a due secret by itself, as the service, and advances nextRotationTime', async () => {
        const created = await create({
          path: 'scheduled',
          value: 'v1',
          rotation: { period: '3600s', rotator: { type: 'random' } },
        });
        assert.equal(created.rotation.nextRotationTime, new Date(clock.nowMs() + 3_600_000).toISOString());
        await node.app.runBackgroundJobs();
        assert.equal((await valueOf('scheduled')).version, 1, 'not due yet');
        clock.advance(3_600_001);
        await node.app.runBackgroundJobs();
        const current = await valueOf('scheduled');
        assert.equal(current.version, 2);
        assert.match(current.value, /^[A-Za-z0-9]{32}$/);
        const got = await api('GET', secretPath('scheduled'));
        assert.equal(got.body.rotation.nextRotationTime, new Date(clock.nowMs() + 3_600_000).toISOString());
        assert.equal(got.body.rotationStatus.lastSuccessTime, new Date(clock.nowMs()).toISOString());
        const events = await rotateEvents(created.name);
        assert.equal(events.length, 4);
        assert.ok(events.every((e) => e.principal === 'service:secretsmanager'));
        await node.app.runBackgroundJobs();
        assert.equal((await valueOf('scheduled')).version, 2, 'rotated once');
      });

      test('a webhook rotator end to end: four signed calls, the hook’s value becomes current; a failing test answers 503 and leaves current', async () => {
        const hook = await startRotationHook('hook-signing-key');
        try {
          await create({ path: 'hooks/signing', value: 'hook-signing-key' });
          const created = await create({
            path: 'webhook/target',
            value: 'v1',
            rotation: { rotator: { type: 'webhook', url: hook.url, signingSecret: 'hooks/signing' } },
          });
          const rotated = await api('POST', `${secretPath('webhook/target')}/rotate`);
          assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
          assert.deepEqual(
            hook.calls.map((c) => [c.step, c.signatureValid]),
            [
              ['create', true],
              ['set', true],
              ['test', true],
              ['finish', true],
            ],
          );
          assert.ok(hook.url.includes('?'), 'the test hook has a token in its query');
          // Path and query may hold the hook's token: a view shows the origin only.
          assert.equal(created.rotation.rotator.url, `${new URL(hook.url).origin}/…?redacted`);
          assert.equal(JSON.stringify(created).includes(hook.url.split('?')[1]!), false);
          assert.equal(JSON.stringify(created).includes(new URL(hook.url).pathname), false);
          // Sent back as shown (read-modify-write), the stored URL keeps its query.
          const kept = await api('PATCH', secretPath('webhook/target'), { rotation: created.rotation });
          assert.equal(kept.status, 200, JSON.stringify(kept.body));
          const stored = await node.app.storage.db
            .selectFrom('sm_secrets')
            .select('rotator')
            .where('path', '=', 'webhook/target')
            .executeTakeFirstOrThrow();
          assert.equal(JSON.parse(stored.rotator!).url, hook.url);
          const [made] = hook.created;
          assert.equal(hook.calls[1]!.body!.pendingValue, made);
          assert.equal(new Set(hook.calls.map((c) => c.body!.rotationId)).size, 1);
          assert.equal((await valueOf('webhook/target')).value, made);
          const reads = (
            await storedAuditEvents(node.app.storage.db, { action: 'secrets.get_value' })
          ).filter((r) => r.resource.endsWith('hooks%2Fsigning'));
          assert.ok(reads.length > 0 && reads.every((r) => r.principal === 'service:secretsmanager'));

          hook.answer('test', (_call, res) => void res.writeHead(500).end('no'));
          const failed = await api('POST', `${secretPath('webhook/target')}/rotate`);
          assert.equal(failed.status, 503, JSON.stringify(failed.body));
          assert.equal(failed.body.error.code, 'target_failed');
          const status = (await api('GET', secretPath('webhook/target'))).body.rotationStatus;
          assert.equal(status.state, 'in_progress');
          assert.equal(status.lastFailure.step, 'test');
          assert.equal(status.attempts, 1);
          assert.equal((await valueOf('webhook/target')).value, made, 'current unchanged');
          assert.equal(JSON.stringify(status).includes('hook-signing-key'), false);
          // A manual rotate right after a failed attempt is refused (429, Retry-After); later it
          // runs at once (no backoff), and its failure keeps counting.
          const early = await api('POST', `${secretPath('webhook/target')}/rotate`);
          assert.equal(early.status, 429, JSON.stringify(early.body));
          assert.equal(early.body.error.code, 'rate_limited');
          assert.equal(early.headers.get('retry-after'), '10');
          clock.advance(10_000);
          const again = await api('POST', `${secretPath('webhook/target')}/rotate`);
          assert.equal(again.status, 503, JSON.stringify(again.body));
          assert.equal((await api('GET', secretPath('webhook/target'))).body.rotationStatus.attempts, 2);
          clock.advance(10_000);
          hook.answer('test', undefined);
          const resumed = await api('POST', `${secretPath('webhook/target')}/rotate`);
          assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
          assert.equal(resumed.body.version, 3);
          assert.equal(hook.created.length, 2, 'the resumed rotation did not create again');
          assert.ok(created.name);
        } finally {
          await hook.close();
        }
      });

      test('a second rotate while one runs is 409 conflict; the first one finishes', async () => {
        const hook = await startRotationHook('busy-key');
        try {
          await create({ path: 'busy/key', value: 'busy-key' });
          await create({
            path: 'busy/target',
            value: 'v1',
            rotation: { rotator: { type: 'webhook', url: hook.url, signingSecret: 'busy/key' } },
          });
          const held = hook.block('set');
          const first = api('POST', `${secretPath('busy/target')}/rotate`);
          await held;
          const second = await api('POST', `${secretPath('busy/target')}/rotate`);
          assert.equal(second.status, 409, JSON.stringify(second.body));
          assert.equal(second.body.error.code, 'conflict');
          const status = (await api('GET', secretPath('busy/target'))).body.rotationStatus;
          assert.deepEqual([status.state, status.step, status.pendingVersion], ['in_progress', 'set', 2]);
          assert.equal((await valueOf('busy/target')).value, 'v1', 'latest is still the current value');
          hook.release();
          const done = await first;
          assert.equal(done.status, 200, JSON.stringify(done.body));
          assert.equal((await valueOf('busy/target')).value, hook.created[0]);
        } finally {
          hook.release();
          await hook.close();
        }
      });

      test('purging a secret removes its rotation state', async () => {
        const created = await create({
          path: 'purged',
          value: 'v1',
          rotation: { rotator: { type: 'random' } },
        });
        assert.equal((await api('POST', `${secretPath('purged')}/rotate`)).status, 200);
        const rows = () =>
          node.app.storage.db
            .selectFrom('sm_rotations')
            .innerJoin('sm_secrets', 'sm_secrets.uid', 'sm_rotations.secret_uid')
            .select('sm_rotations.secret_uid')
            .where('sm_secrets.path', '=', 'purged')
            .execute();
        const [row] = await rows();
        assert.ok(row, created.name);
        assert.equal((await api('DELETE', `${secretPath('purged')}?recoveryWindowDays=0`)).status, 204);
        const left = await node.app.storage.db
          .selectFrom('sm_rotations')
          .select('secret_uid')
          .where('secret_uid', '=', row.secret_uid)
          .execute();
        assert.deepEqual(left, []);
      });
    },
  );
}
