import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NodeSqliteDatabase } from '../src/storage/sqlite/node-sqlite-adapter.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const enc = encodeURIComponent;

// Every query Kysely runs on SQLite goes through NodeSqliteDatabase.prepare: count them.
let counting = false;
const seen: string[] = [];
const prepare = NodeSqliteDatabase.prototype.prepare;
NodeSqliteDatabase.prototype.prepare = function (this: NodeSqliteDatabase, sql: string) {
  if (counting) seen.push(sql);
  return prepare.call(this, sql);
};
/** The queries run while `fn` runs, except the change-feed follower's own polls (on a timer). */
async function queriesDuring(fn: () => Promise<unknown>): Promise<string[]> {
  seen.length = 0;
  counting = true;
  try {
    await fn();
  } finally {
    counting = false;
  }
  return seen.filter((q) => !/\bfrom "change_log"/.test(q));
}
const metadataTables = /\b(sm_instances|sm_secrets|sm_stages|sm_versions)\b/;

describe('secrets metadata cache (one node, SQLite)', () => {
  let node: TestNode;
  let admin: string;
  let projectId: string;
  let instanceId: string;
  let base: string;
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: admin, ...(body !== undefined ? { body } : {}) });
  const value = async (path: string, query = '') => {
    const res = await api('GET', `${base}/secrets/${enc(path)}/value${query}`);
    return res.status === 200
      ? res.body.value
      : `${res.status} ${res.body?.code ?? res.body?.error?.code ?? ''}`;
  };

  before(async () => {
    node = await startTestNode({ env: { COFFER_BACKGROUND_INTERVAL_MS: '3600000' } });
    admin = node.adminToken!;
    projectId = (await api('POST', '/v2/projects', {})).body.id;
    const instance = await api('POST', `/v2/projects/${projectId}/regions/local/instances`, { name: 'main' });
    assert.equal(instance.status, 201, JSON.stringify(instance.body));
    instanceId = instance.body.id;
    base = `/v2/projects/${projectId}/regions/local/instances/${instanceId}`;
  });
  after(async () => {
    await node?.destroy();
  });

  test('on the node that made a change, the very next read reflects it', async () => {
    const secretUrl = `${base}/secrets/${enc('fresh/s')}`;
    const warm = async (query = '') => {
      await value('fresh/s', query);
      return value('fresh/s', query);
    };
    assert.equal((await api('POST', `${base}/secrets`, { path: 'fresh/s', value: 'v1' })).status, 201);
    assert.equal(await warm(), 'v1');
    // A new version.
    assert.equal((await api('PUT', `${secretUrl}/value`, { value: 'v2' })).status, 201);
    assert.equal(await value('fresh/s'), 'v2');
    assert.equal(await warm('?version=1'), 'v1');
    // Disable, enable: by number and as the latest enabled.
    assert.equal((await api('POST', `${secretUrl}/versions/1/disable`)).status, 200);
    assert.match(await value('fresh/s', '?version=1'), /^400 failed_precondition/);
    assert.equal((await api('POST', `${secretUrl}/versions/2/disable`)).status, 200);
    assert.match(await value('fresh/s'), /^404/, 'no enabled version left');
    assert.equal((await api('POST', `${secretUrl}/versions/1/enable`)).status, 200);
    assert.equal(await value('fresh/s'), 'v1', 'the latest enabled is version 1 now');
    assert.equal((await api('POST', `${secretUrl}/versions/2/enable`)).status, 200);
    assert.equal(await warm(), 'v2');
    // Stage moves.
    assert.equal(await warm('?stage=current'), 'v2');
    assert.equal((await api('PUT', `${secretUrl}/stages/current`, { version: 1 })).status, 200);
    assert.equal(await value('fresh/s', '?stage=current'), 'v1');
    assert.equal((await api('PUT', `${secretUrl}/stages/current`, { version: 2 })).status, 200);
    assert.equal(await value('fresh/s', '?stage=current'), 'v2');
    // Destroy.
    assert.equal(await warm('?version=1'), 'v1');
    assert.equal((await api('POST', `${secretUrl}/versions/1/destroy`)).status, 200);
    assert.match(await value('fresh/s', '?version=1'), /^400 failed_precondition/);
    // Delete and restore.
    assert.equal(await warm(), 'v2');
    assert.equal((await api('DELETE', `${secretUrl}?recoveryWindowDays=7`)).status, 200);
    assert.match(await value('fresh/s'), /^400 failed_precondition/);
    assert.equal((await api('POST', `${secretUrl}/restore`)).status, 200);
    assert.equal(await value('fresh/s'), 'v2');
    // Purge, and a new secret at the same path.
    assert.equal((await api('DELETE', `${secretUrl}?recoveryWindowDays=0`)).status, 204);
    assert.match(await value('fresh/s'), /^404/);
    assert.equal((await api('POST', `${base}/secrets`, { path: 'fresh/s', value: 'new' })).status, 201);
    assert.equal(await value('fresh/s'), 'new');
  });

  test('an instance key switch, a binding removed, an instance renamed: the very next request reflects it', async (t) => {
    const region = `/v2/projects/${projectId}/regions/local`;
    const ring = (await api('POST', `${region}/keyrings`, { displayName: 'r' })).body.id;
    const newKey = async () =>
      (await api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96' })).body;
    const [keyA, keyB] = [await newKey(), await newKey()];
    const sa = (await api('POST', `/v2/projects/${projectId}/service-accounts`, { name: 'wrapper' })).body
      .email;
    await api('POST', `/v2/projects/${projectId}/iam-policy:add-binding`, {
      role: 'roles/secretsmanager.reader',
      member: `serviceAccount:${sa}`,
    });
    await api('POST', `${region}/keyrings/${ring}/iam-policy:add-binding`, {
      role: 'roles/kms.cryptoKeyEncrypterDecrypter',
      member: `serviceAccount:${sa}`,
    });
    const kmsKey = (key: { id: string }) => ({
      regionId: 'local',
      projectId,
      serviceAccountEmail: sa,
      keyRingId: ring,
      keyId: key.id,
      keyVersion: 1,
    });
    const created = await api('POST', `${region}/instances`, { name: 'keyed', kmsKey: kmsKey(keyA) });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const inst = `${region}/instances/${created.body.id}`;
    const secretUrl = `${inst}/secrets/${enc('k/s')}`;
    const read = async (url = secretUrl, token = admin) => {
      const res = await call(node.url, 'GET', `${url}/value`, { token });
      return res.status === 200 ? res.body.value : `${res.status} ${res.body?.code ?? ''}`;
    };
    assert.equal((await api('POST', `${inst}/secrets`, { path: 'k/s', value: 'kv' })).status, 201);
    await read();
    assert.equal(await read(), 'kv');
    assert.equal((await api('GET', secretUrl)).body.kmsKey.identity, keyA.name);

    // The key switch: the secret follows the new key at once, its values read throughout.
    const switched = await api('PUT', inst, { name: 'keyed', kmsKey: kmsKey(keyB) });
    assert.equal(switched.status, 200, JSON.stringify(switched.body));
    assert.equal((await api('GET', secretUrl)).body.kmsKey.identity, keyB.name);
    assert.equal(await read(), 'kv');
    const op = `${region}/operations/${switched.body.operation.id}`;
    for (let i = 0; i < 20 && !(await api('GET', op)).body.done; i++) await node.app.runBackgroundJobs();
    assert.equal((await api('GET', op)).body.state, 'done');
    assert.equal(await read(), 'kv');
    // Rewrapped: the old key may go; the new key disabled refuses the value at once.
    assert.equal((await api('POST', `${region}/keyrings/${ring}/keys/${keyA.id}/disable`)).status, 200);
    assert.equal(await read(), 'kv', 'the value no longer needs the old key');
    assert.equal(
      (await api('POST', `${region}/keyrings/${ring}/keys/${keyB.id}/disable?force=true`)).status,
      200,
    );
    assert.match(await read(), /^(400|403|409)/);
    assert.equal((await api('POST', `${region}/keyrings/${ring}/keys/${keyB.id}/enable`)).status, 200);
    assert.equal(await read(), 'kv');

    // The instance's service account disabled: refused on the very next read; enabled: served.
    const account = `/v2/projects/${projectId}/service-accounts/${sa}`;
    assert.equal((await api('POST', `${account}/disable`)).status, 200);
    assert.match(await read(), /^403/);
    assert.equal((await api('POST', `${account}/enable`)).status, 200);
    assert.equal(await read(), 'kv');

    // A binding removed: refused on the very next read.
    const email = 'reader-cache@example.com';
    const password = 'correct horse battery';
    assert.equal((await api('POST', '/v2/users', { email, password })).status, 201);
    const token = (await call(node.url, 'POST', '/v2/auth/login', { body: { email, password } })).body.token;
    const binding = { role: 'roles/secretsmanager.secretAccessor', member: `user:${email}` };
    assert.equal((await api('POST', `${secretUrl}/iam-policy:add-binding`, binding)).status, 200);
    await read(secretUrl, token);
    assert.equal(await read(secretUrl, token), 'kv');
    assert.equal((await api('POST', `${secretUrl}/iam-policy:remove-binding`, binding)).status, 200);
    assert.match(await read(secretUrl, token), /^403/);

    // A rename: the old name resolves no more, the new one does.
    const byName = (name: string) => `${region}/instances/${name}/secrets/${enc('k/s')}`;
    await read(byName('keyed'));
    assert.equal(await read(byName('keyed')), 'kv');
    assert.match(await read(byName('renamed')), /^404/);
    assert.equal((await api('PUT', inst, { name: 'renamed', kmsKey: kmsKey(keyB) })).status, 200);
    assert.match(await read(byName('keyed')), /^404/);
    assert.equal(await read(byName('renamed')), 'kv');
    // A KMS-bound reveal through the instance's service account, repeated: no metadata row read
    // (secrets, instance, versions, stages, the service account; the KMS cache's reads are its own).
    await node.app.syncChanges();
    await read();
    const repeat = await queriesDuring(async () => assert.equal(await read(), 'kv'));
    t.diagnostic(`KMS-bound repeat: ${repeat.length} queries ${JSON.stringify(repeat)}`);
    assert.deepEqual(
      repeat.filter((q) => metadataTables.test(q) || /\biam_service_accounts\b/.test(q)),
      [],
    );
  });

  test('a repeated getSecretValue reads no metadata row from storage (by id and by instance name)', async (t) => {
    assert.equal((await api('POST', `${base}/secrets`, { path: 'count/me', value: 'v1' })).status, 201);
    // This node's own change comes back through the feed too (dropping the entry once more).
    await node.app.syncChanges();
    const byName = `/v2/projects/${projectId}/regions/local/instances/main/secrets/${enc('count/me')}/value`;
    for (const url of [`${base}/secrets/${enc('count/me')}/value`, byName]) {
      const first = await queriesDuring(async () => assert.equal((await api('GET', url)).body.value, 'v1'));
      const second = await queriesDuring(async () => assert.equal((await api('GET', url)).body.value, 'v1'));
      t.diagnostic(
        `${url === byName ? 'by name' : 'by id'}: first read ${first.length} queries ` +
          `(${first.filter((q) => metadataTables.test(q)).length} metadata), ` +
          `repeat ${second.length} (${second.filter((q) => metadataTables.test(q)).length} metadata)`,
      );
      assert.ok(
        first.some((q) => metadataTables.test(q)),
        'the first read fills from storage',
      );
      assert.deepEqual(
        second.filter((q) => metadataTables.test(q)),
        [],
        'a cache hit reads no metadata from storage',
      );
    }
    // A change to another secret drops that secret only (its change record names it), here and
    // when it comes back through the feed.
    assert.equal((await api('POST', `${base}/secrets`, { path: 'count/other', value: 'o1' })).status, 201);
    assert.equal(
      (await api('PUT', `${base}/secrets/${enc('count/other')}/value`, { value: 'o2' })).status,
      201,
    );
    await node.app.syncChanges();
    const after = await queriesDuring(async () =>
      assert.equal((await api('GET', `${base}/secrets/${enc('count/me')}/value`)).body.value, 'v1'),
    );
    assert.deepEqual(
      after.filter((q) => metadataTables.test(q)),
      [],
      'a put to another secret leaves this one cached',
    );
  });

  test('a put puts the secret back updated: the next put and read of it read no metadata row', async () => {
    const url = `${base}/secrets/${enc('put/warm')}`;
    assert.equal((await api('POST', `${base}/secrets`, { path: 'put/warm', value: 'p1' })).status, 201);
    await node.app.syncChanges();
    assert.equal(await value('put/warm'), 'p1');
    assert.equal((await api('PUT', `${url}/value`, { value: 'p2' })).status, 201);
    const selects = (queries: string[]) =>
      queries.filter((q) => /^\s*select/i.test(q) && metadataTables.test(q));
    const put = await queriesDuring(async () =>
      assert.deepEqual((await api('PUT', `${url}/value`, { value: 'p3' })).body, { version: 3 }),
    );
    assert.deepEqual(selects(put), [], 'the put after a put reads no metadata');
    const read = await queriesDuring(async () => {
      assert.equal(await value('put/warm'), 'p3');
      assert.equal(await value('put/warm', '?stage=previous'), 'p2');
      assert.equal(await value('put/warm', '?version=1'), 'p1');
    });
    assert.deepEqual(selects(read), [], 'reads after the put read no metadata');
    const stages = await api('GET', `${url}/versions`);
    assert.deepEqual(
      stages.body.items.map((v: { version: number; stages: string[] }) => [v.version, v.stages]),
      [
        [1, []],
        [2, ['previous']],
        [3, ['current']],
      ],
    );
  });
});
