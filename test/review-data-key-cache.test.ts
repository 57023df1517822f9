import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KmsCryptoService } from '../src/kms/kms-crypto-service.ts';
import { ValueCrypto } from '../src/secrets/value-crypto.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

// Security review of the data-key cache (ADR 0008): a data key cached on node B must never answer a
// reveal that node A has since made impossible (a permission removed, a secret version disabled, a
// key version scheduled for destruction), within the change feed's interval; nor after a logout.

const postgresSkip = await postgresSkipReason();
const password = 'correct horse battery';

let unwraps = 0;
const decryptWithKey = KmsCryptoService.prototype.decryptWithKey;
KmsCryptoService.prototype.decryptWithKey = function (this: KmsCryptoService, ...args) {
  unwraps++;
  return decryptWithKey.apply(this, args);
};

describe('review: data keys cached on another node', { skip: postgresSkip ?? false }, () => {
  let database: TestDatabase;
  let nodeA: TestNode;
  let nodeB: TestNode;
  let admin: string;
  let project: string;
  let secret: string;
  let keyPath: string;
  let bob: { member: string; token: string };

  const api = (method: string, path: string, body?: unknown) =>
    call(nodeA.url, method, path, { token: admin, ...(body !== undefined ? { body } : {}) });
  /** Bob's read of `version` on node B: the value, or the error code. */
  const readOnB = async (version: string, token = bob.token) => {
    const res = await call(nodeB.url, 'GET', `${secret}/value?version=${version}`, { token });
    return res.status === 200 ? (res.body.value as string) : (res.body.error?.code as string);
  };
  /** Node B's answer once it is no longer `value`, waiting at most one second. */
  const within1s = async (version: string, value: string) => {
    const from = Date.now();
    let answer = value;
    while (answer === value && Date.now() - from < 1000) answer = await readOnB(version);
    return answer;
  };
  /** Reads `version` on B until a read comes from B's data-key cache (earlier changes reach B late). */
  const warm = async (version: string, value: string) => {
    const from = Date.now();
    for (;;) {
      const first = await readOnB(version);
      if (first === value) {
        unwraps = 0;
        if ((await readOnB(version)) === value && unwraps === 0) return;
      }
      assert.ok(Date.now() - from < 3000, `node B serves ${value} from its data-key cache (${first})`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  before(async () => {
    database = await createTestDatabase();
    const env = { COFFER_DATABASE_URL: database.url, COFFER_CHANGE_POLL_MS: '100' };
    nodeA = await startTestNode({ env });
    const otherDir = mkdtempSync(join(tmpdir(), 'coffer-review-node-b-'));
    copyFileSync(join(nodeA.dataDir, 'seal.key'), join(otherDir, 'seal.key'));
    nodeB = await startTestNode({ env, dataDir: otherDir });
    admin = nodeA.adminToken!;
    project = (await api('POST', '/v2/projects', {})).body.id as string;
    const region = `/v2/projects/${project}/regions/local`;
    const ring = (await api('POST', `${region}/keyrings`, { displayName: 'r' })).body.id as string;
    const key = (await api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96' })).body;
    keyPath = `${region}/keyrings/${ring}/keys/${key.id}`;
    const instance = (await api('POST', `${region}/instances`, { name: 'main' })).body.id as string;
    secret = `${region}/instances/${instance}/secrets/bound`;
    const created = await api('POST', `${region}/instances/${instance}/secrets`, {
      path: 'bound',
      kmsKeyIdentity: key.name,
      value: 'v1',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await api('POST', `${keyPath}/rotate`)).status, 200);
    assert.equal((await api('PUT', `${secret}/value`, { value: 'v2' })).status, 201);
    assert.equal((await api('PUT', `${secret}/value`, { value: 'v3' })).status, 201);
    const email = 'bob-review@example.com';
    assert.equal((await api('POST', '/v2/users', { email, password })).status, 201);
    const login = await call(nodeA.url, 'POST', '/v2/auth/login', { body: { email, password } });
    assert.equal(login.status, 200);
    bob = { member: `user:${email}`, token: login.body.token as string };
  });
  after(async () => {
    await nodeB?.destroy();
    await nodeA?.destroy();
    await database?.drop();
  });

  const grant = (verb: 'add' | 'remove') =>
    api('POST', `/v2/projects/${project}/iam-policy:${verb}-binding`, {
      role: 'roles/secretsmanager.secretAccessor',
      member: bob.member,
    });

  test('a permission removed on A: refused on B within one second', async () => {
    assert.equal((await grant('add')).status, 200);
    await warm('3', 'v3');
    assert.equal((await grant('remove')).status, 200);
    assert.equal(await within1s('3', 'v3'), 'permission_denied');
    assert.equal((await grant('add')).status, 200);
  });

  test('a secret version disabled on A: refused on B within one second', async () => {
    await warm('2', 'v2');
    assert.equal((await api('POST', `${secret}/versions/2/disable`)).status, 200);
    assert.equal(await within1s('2', 'v2'), 'failed_precondition');
    assert.equal((await api('POST', `${secret}/versions/2/enable`)).status, 200);
  });

  test('a key version scheduled for destruction on A: refused on B within one second', async () => {
    await warm('1', 'v1');
    const destroyed = await api('POST', `${keyPath}/versions/1/destroy?force=true`);
    assert.equal(destroyed.status, 200, JSON.stringify(destroyed.body));
    assert.equal(await within1s('1', 'v1'), 'key_not_active');
  });

  test('a logout on A: the token is refused on B within one second, the cached key serves nobody', async () => {
    await warm('3', 'v3');
    assert.equal((await call(nodeA.url, 'POST', '/v2/auth/logout', { token: bob.token })).status, 204);
    assert.equal(await within1s('3', 'v3'), 'unauthenticated');
  });
});

describe('review: a cached data key serves only the wrapping it was unwrapped with (SQLite)', () => {
  test('a caller naming no KMS key, or another key, gets no cached KMS-wrapped data key', async () => {
    const node = await startTestNode();
    try {
      const token = node.adminToken!;
      const api = (method: string, path: string, body?: unknown) =>
        call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
      const project = (await api('POST', '/v2/projects', {})).body.id as string;
      const region = `/v2/projects/${project}/regions/local`;
      const ring = (await api('POST', `${region}/keyrings`, { displayName: 'r' })).body.id as string;
      const keys = `${region}/keyrings/${ring}/keys`;
      const key = (await api('POST', keys, { algorithm: 'aes256-gcm96' })).body;
      const other = (await api('POST', keys, { algorithm: 'aes256-gcm96' })).body;
      const instance = (await api('POST', `${region}/instances`, { name: 'main' })).body.id as string;
      const secret = `${region}/instances/${instance}/secrets/bound`;
      const created = await api('POST', `${region}/instances/${instance}/secrets`, {
        path: 'bound',
        kmsKeyIdentity: key.name,
        value: 'v1',
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal((await api('GET', `${secret}/value?version=1`)).body.value, 'v1');
      assert.equal(node.app.dataKeys.size, 1, 'the data key is cached');

      const db = node.app.storage.db;
      const row = await db
        .selectFrom('sm_versions')
        .innerJoin('sm_secrets', 'sm_secrets.uid', 'sm_versions.secret_uid')
        .select(['sm_versions.secret_uid', 'sm_versions.wrapped_key', 'sm_versions.wrap_key_uid'])
        .where('sm_secrets.path', '=', 'bound')
        .where('sm_secrets.project_id', '=', project)
        .executeTakeFirstOrThrow();
      const wrapped = Buffer.from(row.wrapped_key!);
      const name = `projects/${project}/regions/local/instances/${instance}/secrets/bound`;
      const crypto = new ValueCrypto(node.app.barrier, node.app.kmsCrypto, node.app.dataKeys);
      const otherKey = await node.app.kms.findKeyByUid(
        (
          await db
            .selectFrom('kms_keys')
            .select('uid')
            .where('id', '=', other.id)
            .where('project_id', '=', project)
            .executeTakeFirstOrThrow()
        ).uid,
      );
      // The version names key K; a caller that names no key (root protection) or key K2 must unwrap
      // (and fail), never be handed the data key K unwrapped, unchecked.
      await assert.rejects(crypto.dataKeyOf(row.secret_uid, name, 1, wrapped, undefined));
      await assert.rejects(crypto.dataKeyOf(row.secret_uid, name, 1, wrapped, otherKey));
      const own = await node.app.kms.findKeyByUid(row.wrap_key_uid!);
      assert.ok(await crypto.dataKeyOf(row.secret_uid, name, 1, wrapped, own), 'its own key still hits');
    } finally {
      await node.destroy();
    }
  });
});
