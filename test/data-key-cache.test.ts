import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { KmsCryptoService } from '../src/kms/kms-crypto-service.ts';
import { createTestDatabase, postgresSkipReason } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();

// Every unwrap of a KMS-wrapped data key goes through decryptWithKey: count them.
let unwraps = 0;
const decryptWithKey = KmsCryptoService.prototype.decryptWithKey;
KmsCryptoService.prototype.decryptWithKey = function (this: KmsCryptoService, ...args) {
  unwraps++;
  return decryptWithKey.apply(this, args);
};

/** A KMS-bound secret with two versions wrapped by key versions 1 and 2. */
async function fixture(node: TestNode) {
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: node.adminToken!, ...(body !== undefined ? { body } : {}) });
  const project = (await api('POST', '/v2/projects', {})).body.id as string;
  const region = `/v2/projects/${project}/regions/local`;
  const ring = (await api('POST', `${region}/keyrings`, { displayName: 'r' })).body.id as string;
  const key = (await api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96' })).body;
  const instance = (await api('POST', `${region}/instances`, { name: 'main' })).body.id as string;
  const created = await api('POST', `${region}/instances/${instance}/secrets`, {
    path: 'bound',
    kmsKeyIdentity: key.name,
    value: 'v1',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const keyPath = `${region}/keyrings/${ring}/keys/${key.id}`;
  const secret = `${region}/instances/${instance}/secrets/bound`;
  assert.equal((await api('POST', `${keyPath}/rotate`)).status, 200);
  assert.equal((await api('PUT', `${secret}/value`, { value: 'v2' })).status, 201);
  /** The value of `version` (`latest` by default), or the error code. */
  const read = async (version = 'latest', on = node) => {
    const res = await call(on.url, 'GET', `${secret}/value?version=${version}`, { token: node.adminToken! });
    return res.status === 200 ? res.body.value : res.body.error?.code;
  };
  return { api, keyPath, secret, read };
}

describe('data-key cache (one node, SQLite)', () => {
  test('a warm reveal unwraps nothing; disable, destroy and seal refuse the very next read and drop the keys', async () => {
    const node = await startTestNode();
    try {
      const { api, keyPath, secret, read } = await fixture(node);
      assert.equal(await read('1'), 'v1');
      assert.equal(await read('latest'), 'v2');
      unwraps = 0;
      for (let i = 0; i < 3; i++) assert.deepEqual([await read('1'), await read()], ['v1', 'v2']);
      assert.equal(unwraps, 0, 'warm reveals unwrap nothing');
      assert.equal(node.app.dataKeys.size, 2);
      const metrics = await node.server.inject({
        method: 'GET',
        url: '/v2/sys/metrics',
        headers: { authorization: `Bearer ${node.adminToken}` },
      });
      assert.match(metrics.body, /^coffer_cache_requests_total\{cache="data_key",result="hit"\} [1-9]/m);

      // The key version that wrapped version 1's data key, disabled: refused at once, dropped.
      assert.equal((await api('POST', `${keyPath}/versions/1/disable`)).status, 200);
      assert.equal(await read('1'), 'key_not_active');
      assert.equal(await read(), 'v2', 'version 2 is wrapped by key version 2');
      assert.equal((await api('POST', `${keyPath}/versions/1/enable`)).status, 200);
      assert.equal(await read('1'), 'v1');

      // The key disabled: refused at once, everything it wrapped dropped.
      assert.equal((await api('POST', `${keyPath}/disable?force=true`)).body.state, 'disabled');
      assert.equal(node.app.dataKeys.size, 0, 'a key change drops what the key wrapped');
      assert.deepEqual([await read('1'), await read()], ['key_not_active', 'key_not_active']);
      assert.equal((await api('POST', `${keyPath}/enable`)).status, 200);
      unwraps = 0;
      assert.deepEqual([await read('1'), await read()], ['v1', 'v2']);
      assert.equal(unwraps, 2, 'unwrapped again after the key came back');

      // A secret version disabled, then destroyed: refused at once, its key dropped.
      assert.equal((await api('POST', `${secret}/versions/1/disable`)).status, 200);
      assert.equal(await read('1'), 'failed_precondition');
      assert.equal((await api('POST', `${secret}/versions/1/enable`)).status, 200);
      assert.equal(await read('1'), 'v1');
      assert.equal((await api('POST', `${secret}/versions/1/destroy`)).status, 200);
      assert.equal(await read('1'), 'failed_precondition');
      assert.equal(await read(), 'v2');
      assert.equal(node.app.dataKeys.size, 1, "only version 2's key is left");

      // Seal: every key goes, reads are refused.
      await node.app.seal();
      assert.equal(node.app.dataKeys.size, 0);
      assert.equal(await read(), 'sealed');
    } finally {
      await node.destroy();
    }
  });

  test('COFFER_DATA_KEY_CACHE_MAX_ENTRIES=0 unwraps on every reveal', async () => {
    const node = await startTestNode({ env: { COFFER_DATA_KEY_CACHE_MAX_ENTRIES: '0' } });
    try {
      const { read } = await fixture(node);
      unwraps = 0;
      for (let i = 0; i < 3; i++) assert.equal(await read(), 'v2');
      assert.equal(unwraps, 3);
      assert.equal(node.app.dataKeys.size, 0);
    } finally {
      await node.destroy();
    }
  });
});

describe('data-key cache across nodes (PostgreSQL)', { skip: postgresSkip ?? false }, () => {
  test('a key version disabled on one node is refused by the other, whose data key is cached, within one second', async () => {
    const database = await createTestDatabase();
    const env = { COFFER_DATABASE_URL: database.url, COFFER_CHANGE_POLL_MS: '100' };
    const nodeA = await startTestNode({ env });
    const otherDir = mkdtempSync(join(tmpdir(), 'coffer-node-b-'));
    copyFileSync(join(nodeA.dataDir, 'seal.key'), join(otherDir, 'seal.key'));
    const nodeB = await startTestNode({ env, dataDir: otherDir }).catch(async (err) => {
      await nodeA.destroy();
      throw err;
    });
    try {
      const { api, keyPath, read } = await fixture(nodeA);
      // Warm on B: the fixture's own changes reach B through the feed and may drop what it read first.
      let warm = false;
      for (let i = 0; i < 50 && !warm; i++) {
        unwraps = 0;
        assert.equal(await read('1', nodeB), 'v1');
        warm = unwraps === 0;
        if (!warm) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(warm, "node B's data key is cached");
      assert.equal((await api('POST', `${keyPath}/versions/1/disable`)).status, 200);
      const disabledAt = Date.now();
      let answer = 'v1';
      while (answer === 'v1' && Date.now() - disabledAt < 1000) answer = await read('1', nodeB);
      assert.equal(answer, 'key_not_active', 'refused on node B within one second');
      assert.equal(await read('latest', nodeB), 'v2');
    } finally {
      await nodeB.destroy();
      await nodeA.destroy();
      await database.drop();
    }
  });
});
