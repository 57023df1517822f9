import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const enc = encodeURIComponent;

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `putSecretValue idempotency keys (${engine})`,
    { skip: engine === 'postgres' ? (postgresSkip ?? false) : false },
    () => {
      let node: TestNode;
      let database: TestDatabase | undefined;
      let instanceBase: string;
      const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
        call(node.url, method, path, {
          token: node.adminToken,
          ...(body !== undefined ? { body } : {}),
          headers,
        });
      const put = (path: string, body: unknown, key: string) =>
        api('PUT', `${instanceBase}/secrets/${enc(path)}/value`, body, { 'idempotency-key': key });

      before(async () => {
        const env: Record<string, string> = { COFFER_REGIONS: 'eu01', COFFER_KMS_REGIONS: 'eu01' };
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        node = await startTestNode({ env });
        const projectId = (await api('POST', '/v2/projects', {})).body.id;
        const instance = await api('POST', `/v2/projects/${projectId}/regions/eu01/instances`, {
          name: 'main',
        });
        instanceBase = `/v2/projects/${projectId}/regions/eu01/instances/${instance.body.id}`;
        assert.equal(
          (await api('POST', `${instanceBase}/secrets`, { path: 'idem', value: 'v1' })).status,
          201,
        );
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('the same key with the same request replays the first version', async () => {
        const first = await put('idem', { value: 'pin-1234', expectedLatestVersion: 1 }, 'k-same');
        assert.equal(first.status, 201, JSON.stringify(first.body));
        assert.equal(first.body.version, 2);
        const again = await put('idem', { value: 'pin-1234', expectedLatestVersion: 1 }, 'k-same');
        assert.equal(again.status, 201, JSON.stringify(again.body));
        assert.equal(again.body.version, 2);
      });

      test('the same key with another value, binaryValue, stages or expectedLatestVersion is a 409 conflict that never echoes the value', async () => {
        const first = await put('idem', { value: 'first-value-123' }, 'k-diff');
        assert.equal(first.status, 201);
        const variants: unknown[] = [
          { value: 'other-value-456' },
          { binaryValue: Buffer.from('first-value-123').toString('base64') },
          { value: 'first-value-123', stages: ['current', 'blue'] },
          { value: 'first-value-123', expectedLatestVersion: first.body.version - 1 },
        ];
        for (const body of variants) {
          const res = await put('idem', body, 'k-diff');
          assert.equal(res.status, 409, JSON.stringify({ body, answer: res.body }));
          assert.equal(res.body.error.code, 'conflict');
          assert.match(
            res.body.error.message,
            /Idempotency-Key k-diff was already used .* different request/,
          );
          assert.doesNotMatch(JSON.stringify(res.body), /value-123|value-456/);
        }
        const latest = await api('GET', `${instanceBase}/secrets/idem/value`);
        assert.equal(latest.body.value, 'first-value-123');
        assert.equal(latest.body.version, first.body.version);
      });

      test('the stored digest is neither the value nor its plain SHA-256', async () => {
        const { createHash } = await import('node:crypto');
        const rows = await node.app.storage.db.selectFrom('sm_idempotency').selectAll().execute();
        assert.ok(rows.length >= 2);
        const dump = JSON.stringify(rows.map((r) => Buffer.from(r.request_digest!).toString('hex')));
        for (const value of ['pin-1234', 'first-value-123']) {
          assert.ok(!dump.includes(Buffer.from(value).toString('hex')));
          assert.ok(!dump.includes(createHash('sha256').update(value).digest('hex')));
        }
      });
    },
  );
}

describe('the project kms feature gate (seed 000 prerequisite)', () => {
  let node: TestNode;
  let projectId: string;
  let base: string;
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: node.adminToken, ...(body !== undefined ? { body } : {}) });

  before(async () => {
    node = await startTestNode({ env: { COFFER_REGIONS: 'eu01', COFFER_KMS_REGIONS: 'eu01' } });
    projectId = (await api('POST', '/v2/projects', {})).body.id;
    base = `/v2/projects/${projectId}/regions/eu01/instances/${
      (await api('POST', `/v2/projects/${projectId}/regions/eu01/instances`, { name: 'gate' })).body.id
    }`;
    const ring = (await api('POST', `/v2/projects/${projectId}/regions/eu01/keyrings`, { displayName: 'r' }))
      .body.id;
    const key = await api('POST', `/v2/projects/${projectId}/regions/eu01/keyrings/${ring}/keys`, {
      algorithm: 'aes256-gcm96',
      slug: 'gated',
    });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    for (const [path, extra] of [
      ['bound', { kmsKeyIdentity: 'gated' }],
      ['root', {}],
    ] as const) {
      const created = await api('POST', `${base}/secrets`, { path, value: 'v1', ...extra });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
    const off = await api('PATCH', `/v2/projects/${projectId}`, { features: { kms: false } });
    assert.equal(off.status, 200, JSON.stringify(off.body));
  });
  after(async () => {
    await node?.destroy();
  });

  test('with kms off, reading or writing a KMS-bound value is 403 feature_disabled', async () => {
    for (const res of [
      await api('GET', `${base}/secrets/bound/value`),
      await api('PUT', `${base}/secrets/bound/value`, { value: 'v2' }),
    ]) {
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'feature_disabled');
    }
  });

  test('with kms off, values under the built-in root-key protection still read and write (no KMS is used)', async () => {
    assert.equal((await api('PUT', `${base}/secrets/root/value`, { value: 'v2' })).status, 201);
    assert.equal((await api('GET', `${base}/secrets/root/value`)).body.value, 'v2');
  });

  test('with kms back on, the KMS-bound value reads again', async () => {
    assert.equal((await api('PATCH', `/v2/projects/${projectId}`, { features: { kms: true } })).status, 200);
    assert.equal((await api('GET', `${base}/secrets/bound/value`)).body.value, 'v1');
  });
});
