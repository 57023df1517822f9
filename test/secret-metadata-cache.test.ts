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
async function queriesDuring(fn: () => Promise<unknown>): Promise<string[]> {
  seen.length = 0;
  counting = true;
  try {
    await fn();
  } finally {
    counting = false;
  }
  return [...seen];
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
  const _value = async (path: string, query = '') => {
    const res = await api('GET', `${base}/secrets/${enc(path)}/value${query}`);
    return res.status === 200 ? res.body.value : `${res.status} ${res.body?.error?.code ?? ''}`;
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
  });
});
