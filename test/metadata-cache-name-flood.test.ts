import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NodeSqliteDatabase } from '../src/storage/sqlite/node-sqlite-adapter.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

// The guard resolves `…/instances/{name}/…` through the node's metadata cache before it checks any
// permission: a principal that holds no permission anywhere must not be able to flush another
// tenant's cached metadata with made-up names (they are kept apart from the LRU), and a made-up name
// answers exactly like an unknown id.

let counting = false;
const seen: string[] = [];
const prepare = NodeSqliteDatabase.prototype.prepare;
NodeSqliteDatabase.prototype.prepare = function (this: NodeSqliteDatabase, sql: string) {
  if (counting) seen.push(sql);
  return prepare.call(this, sql);
};
async function metadataReadsDuring(fn: () => Promise<unknown>): Promise<number> {
  seen.length = 0;
  counting = true;
  try {
    await fn();
  } finally {
    counting = false;
  }
  return seen.filter((q) => /\b(sm_instances|sm_secrets|sm_stages|sm_versions)\b/.test(q)).length;
}

const maxEntries = 50;
let node: TestNode;
before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'name-flood-cfg-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ metadataCache: { maxEntries, maxBytes: 1 << 24 } }));
  node = await startTestNode({ env: { COFFER_CONFIG: file, COFFER_BACKGROUND_INTERVAL_MS: '3600000' } });
});
after(async () => {
  await node?.destroy();
});

test("refused requests to made-up instance names do not evict another tenant's cached metadata", async () => {
  const admin = node.adminToken!;
  const api = (method: string, path: string, token = admin, body?: unknown) =>
    call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
  // The stranger: a service account of its own project, no role on anything else.
  const ownProject = (await api('POST', '/v2/projects', admin, {})).body.id;
  const sa = `/v2/projects/${ownProject}/service-accounts`;
  const email = (await api('POST', sa, admin, { name: 'mallory' })).body.email;
  const token = (await api('POST', `${sa}/${encodeURIComponent(email)}/tokens`, admin, {})).body.token;
  assert.equal(typeof token, 'string');
  // The victim tenant, warm.
  const victim = (await api('POST', '/v2/projects', admin, {})).body.id;
  const instances = `/v2/projects/${victim}/regions/local/instances`;
  const inst = (await api('POST', instances, admin, { name: 'main' })).body.id;
  const base = `${instances}/${inst}`;
  assert.equal((await api('POST', `${base}/secrets`, admin, { path: 'db', value: 'v1' })).status, 201);
  const reveal = () => api('GET', `${base}/secrets/db/value`);
  await reveal();
  await reveal();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await metadataReadsDuring(reveal), 0, 'warm: no metadata read');

  for (let i = 0; i < 3 * maxEntries; i++) {
    const res = await api(
      'GET',
      `/v2/projects/x${i}/regions/local/instances/junk${i}/secrets/a/value`,
      token,
    );
    assert.equal(res.status, 403);
    const here = await api('GET', `${instances}/junk${i}/secrets/a/value`, token);
    assert.equal(here.status, 403);
  }
  assert.equal(
    await metadataReadsDuring(reveal),
    0,
    "the victim's entries survive a stranger's refused requests",
  );
});

test('a made-up name answers like an unknown id, and resolves once an instance takes it', async () => {
  const admin = node.adminToken!;
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: admin, ...(body !== undefined ? { body } : {}) });
  const project = (await api('POST', '/v2/projects', {})).body.id;
  const instances = `/v2/projects/${project}/regions/local/instances`;
  const byName = await api('GET', `${instances}/later/secrets/db/value`);
  const byId = await api('GET', `${instances}/00000000-0000-4000-8000-000000000000/secrets/db/value`);
  assert.equal(byName.status, 404);
  assert.equal(byId.status, byName.status);
  assert.equal(byName.body.error.code, 'not_found');
  assert.equal(
    byName.body.error.message.replace('later', '{}'),
    byId.body.error.message.replace(/[0-9a-f-]{36}/, '{}'),
  );
  assert.equal((await api('GET', `${instances}/later/secrets/db/value`)).status, 404); // the miss, kept
  // The instance's creation drops what the location's names resolved to: the name works at once.
  const created = await api('POST', instances, { name: 'later' });
  assert.equal(created.status, 201);
  assert.equal((await api('POST', `${instances}/later/secrets`, { path: 'db', value: 'v1' })).status, 201);
  const revealed = await api('GET', `${instances}/later/secrets/db/value`);
  assert.equal(revealed.status, 200, JSON.stringify(revealed.body));
});
