import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import type { Database } from '../src/storage/schema.ts';
import { createTestDatabase, postgresSkipReason } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Counts the storage reads of KMS and project rows a node makes (through its query executor). */
function countKmsReads(db: Kysely<Database>) {
  type Executor = { executeQuery(query: { sql: string }, id: unknown): Promise<unknown> };
  const executor = db.getExecutor() as unknown as Executor;
  const original = executor.executeQuery;
  const reads: string[] = [];
  executor.executeQuery = function (this: Executor, query, id) {
    if (/\bfrom "?(kms_keys|kms_key_versions|kms_key_rings|projects)\b/i.test(query.sql))
      reads.push(query.sql);
    return original.call(this, query, id);
  };
  return {
    during: async <T>(fn: () => Promise<T>): Promise<number> => {
      reads.length = 0;
      await fn();
      return reads.length;
    },
    restore: () => {
      executor.executeQuery = original;
    },
  };
}

/** A project with a key ring, an AES key, an instance and a secret whose value that key wraps. */
async function fixture(node: TestNode) {
  const token = node.adminToken!;
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
  const project = (await api('POST', '/v2/projects', {})).body.id as string;
  const ring = (await api('POST', `/v2/projects/${project}/regions/local/keyrings`, { displayName: 'r' }))
    .body.id as string;
  const key = await api('POST', `/v2/projects/${project}/regions/local/keyrings/${ring}/keys`, {
    algorithm: 'aes256-gcm96',
  });
  assert.equal(key.status, 201, JSON.stringify(key.body));
  const instance = (await api('POST', `/v2/projects/${project}/regions/local/instances`, { name: 'main' }))
    .body.id as string;
  const secret = `/v2/projects/${project}/regions/local/instances/${instance}/secrets/bound`;
  const created = await api('POST', `/v2/projects/${project}/regions/local/instances/${instance}/secrets`, {
    path: 'bound',
    kmsKeyIdentity: key.body.name,
    value: 'v1',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return {
    project,
    keyPath: `/v2/projects/${project}/regions/local/keyrings/${ring}/keys/${key.body.id}`,
    secret,
  };
}

describe('KMS metadata cache (one node)', () => {
  test('no KMS or project read per encrypt, decrypt or key unwrap on a hit; key changes apply at once', async () => {
    const node = await startTestNode();
    const counter = countKmsReads(node.app.storage.db);
    try {
      const api = (method: string, path: string, body?: unknown) =>
        call(node.url, method, path, { token: node.adminToken!, ...(body !== undefined ? { body } : {}) });
      const { project, keyPath, secret } = await fixture(node);
      const encrypt = () => api('POST', `${keyPath}/encrypt`, { plaintext: b64('hello') });
      const decrypt = (ciphertext: string) => api('POST', `${keyPath}/decrypt`, { ciphertext });
      node.app.cacheInvalidation.invalidate('all');
      let first!: string;
      const cold = await counter.during(async () => {
        first = (await encrypt()).body.ciphertext;
      });
      assert.ok(cold >= 3, `a cold encrypt reads the project, key and version (${cold})`);
      assert.equal(await counter.during(encrypt), 0, 'a warm encrypt reads nothing');
      assert.equal(await counter.during(() => decrypt(first)), 0, 'a warm decrypt reads nothing');
      await api('GET', `${secret}/value`);
      const reveal = await counter.during(async () => {
        assert.equal((await api('GET', `${secret}/value`)).body.value, 'v1');
      });
      assert.equal(reveal, 0, 'a warm reveal reads no key, key version or project');
      const hub = node.app.cacheInvalidation;
      hub.invalidate([`projects/${project}/regions/local/instances/i/secrets/other`, 'projects/another']);
      assert.equal(await counter.during(encrypt), 0, 'changes elsewhere drop nothing of this key');
      hub.invalidate([`projects/${project}`]);
      assert.ok((await counter.during(encrypt)) >= 3, 'a change naming the project drops it and its keys');
      const gate = (kms: boolean) => api('PATCH', `/v2/projects/${project}`, { features: { kms } });
      assert.equal((await gate(false)).status, 200);
      assert.equal((await encrypt()).body.error?.code, 'feature_disabled', 'the gate closes at once');
      assert.equal((await gate(true)).status, 200);

      assert.equal((await api('POST', `${keyPath}/rotate`)).status, 200);
      const second = await encrypt();
      assert.equal(second.body.keyVersion, 2, 'the next encrypt uses the new primary');
      assert.equal((await decrypt(first)).body.keyVersion, 1);
      assert.equal((await api('POST', `${keyPath}/versions/1/disable`)).status, 200);
      const refused = await decrypt(first);
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error.code, 'key_not_active');
      assert.equal((await decrypt(second.body.ciphertext)).status, 200, 'version 2 still decrypts');
      assert.equal((await api('POST', `${keyPath}/disable?force=true`)).body.state, 'disabled');
      for (const res of [
        await encrypt(),
        await decrypt(second.body.ciphertext),
        await api('GET', `${secret}/value`),
      ])
        assert.equal(res.body.error?.code, 'key_not_active');
    } finally {
      counter.restore();
      await node.destroy();
    }
  });
});

describe('KMS metadata cache across nodes (PostgreSQL)', { skip: postgresSkip ?? false }, () => {
  test('a key disabled on one node is refused on the other within one second, under load', async () => {
    const database = await createTestDatabase();
    const env = { COFFER_DATABASE_URL: database.url, COFFER_CHANGE_POLL_MS: '100' };
    const nodeA = await startTestNode({ env });
    const otherDir = mkdtempSync(join(tmpdir(), 'coffer-node-b-'));
    copyFileSync(join(nodeA.dataDir, 'seal.key'), join(otherDir, 'seal.key'));
    const nodeB = await startTestNode({ env, dataDir: otherDir }).catch(async (err) => {
      await nodeA.destroy();
      throw err;
    });
    let stop = false;
    let clients: Promise<void>[] = [];
    try {
      const token = nodeA.adminToken!;
      const { keyPath, secret } = await fixture(nodeA);
      const onB = (method: string, path: string, body?: unknown) =>
        call(nodeB.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
      const sealed = await onB('POST', `${keyPath}/encrypt`, { plaintext: b64('x') });
      assert.equal(sealed.status, 200, JSON.stringify(sealed.body));
      assert.equal((await onB('GET', `${secret}/value`)).body.value, 'v1', 'node B has it all cached');
      // 20 concurrent clients on node B, encrypting and decrypting, each request timed.
      const results: { start: number; status: number; code?: string }[] = [];
      const client = async (i: number) => {
        while (!stop) {
          const start = Date.now();
          const res =
            i % 2 === 0
              ? await onB('POST', `${keyPath}/encrypt`, { plaintext: b64('x') })
              : await onB('POST', `${keyPath}/decrypt`, { ciphertext: sealed.body.ciphertext });
          results.push({ start, status: res.status, code: res.body?.error?.code });
        }
      };
      clients = Array.from({ length: 20 }, (_, i) => client(i));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const disabled = await call(nodeA.url, 'POST', `${keyPath}/disable?force=true`, { token, body: {} });
      assert.equal(disabled.body.state, 'disabled');
      const disabledAt = Date.now();
      let revealStatus = 200;
      let revealCode: string | undefined;
      while (revealStatus === 200 && Date.now() - disabledAt < 1000) {
        const reveal = await onB('GET', `${secret}/value`);
        revealStatus = reveal.status;
        revealCode = reveal.body?.error?.code;
      }
      assert.equal(revealCode, 'key_not_active', 'a reveal on node B is refused within one second');
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, disabledAt + 1500 - Date.now())));
      stop = true;
      await Promise.all(clients);
      assert.ok(
        results.some((r) => r.start < disabledAt && r.status === 200),
        'node B served before',
      );
      const late = results.filter((r) => r.start >= disabledAt + 1000);
      assert.ok(late.length > 0);
      assert.deepEqual(
        late.filter((r) => r.code !== 'key_not_active'),
        [],
        'every request that began a second after the disable was refused',
      );
    } finally {
      stop = true;
      await Promise.allSettled(clients);
      await nodeB.destroy();
      await nodeA.destroy();
      await database.drop();
    }
  });
});
