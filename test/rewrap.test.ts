import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { call, startTestNode } from './support/test-node.ts';

const enc = encodeURIComponent;

test('an instance key switch interrupted by a crash resumes after restart; reads work throughout; nothing is lost', async () => {
  const clock = new ManualClock(Date.UTC(2026, 7, 1));
  const env = { COFFER_BACKGROUND_INTERVAL_MS: '3600000' };
  let node = await startTestNode({ env, clock });
  const dataDir = node.dataDir;
  const admin = node.adminToken!;
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: admin, ...(body !== undefined ? { body } : {}) });
  try {
    const project = (await api('POST', '/v2/projects', {})).body.id;
    const ring = (await api('POST', `/v2/projects/${project}/regions/local/keyrings`, { displayName: 'r' }))
      .body.id;
    const keyA = (
      await api('POST', `/v2/projects/${project}/regions/local/keyrings/${ring}/keys`, {
        algorithm: 'aes256-gcm96',
      })
    ).body;
    const keyB = (
      await api('POST', `/v2/projects/${project}/regions/local/keyrings/${ring}/keys`, {
        algorithm: 'aes256-gcm96',
      })
    ).body;
    const sa = (await api('POST', `/v2/projects/${project}/service-accounts`, { name: 'rewrapper' })).body
      .email;
    await api('POST', `/v2/projects/${project}/iam-policy:add-binding`, {
      role: 'roles/secretsmanager.reader',
      member: `serviceAccount:${sa}`,
    });
    await api('POST', `/v2/projects/${project}/regions/local/keyrings/${ring}/iam-policy:add-binding`, {
      role: 'roles/kms.cryptoKeyEncrypterDecrypter',
      member: `serviceAccount:${sa}`,
    });
    const kmsKey = (key: { id: string }) => ({
      regionId: 'local',
      projectId: project,
      serviceAccountEmail: sa,
      keyRingId: ring,
      keyId: key.id,
      keyVersion: 1,
    });
    const created = await api('POST', `/v2/projects/${project}/regions/local/instances`, {
      name: 'i',
      kmsKey: kmsKey(keyA),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const base = `/v2/projects/${project}/regions/local/instances/${created.body.id}`;
    const expected = new Map<string, string>();
    for (let i = 0; i < 6; i++) {
      const path = `app/s${i}`;
      await api('POST', `${base}/secrets`, { path, value: `first-${i}` });
      await api('PUT', `${base}/secrets/${enc(path)}/value`, { value: `second-${i}` });
      expected.set(path, `second-${i}`);
    }
    const db = () => node.app.storage.db;
    const wrappedBefore = await db()
      .selectFrom('sm_versions')
      .select(['secret_uid', 'version', 'wrapped_key', 'wrap_key_uid'])
      .execute();
    assert.equal(wrappedBefore.length, 12);

    const switched = await api('PUT', base, { name: 'i', kmsKey: kmsKey(keyB) });
    assert.equal(switched.status, 200);
    const operation = switched.body.operation;
    assert.ok(operation?.id);
    // Let it finish, then put the store back into the state a crash after the first half leaves:
    // half the versions still wrapped by key A, the operation running, its lease held by a dead node.
    let status = await api('GET', `/v2/projects/${project}/regions/local/operations/${operation.id}`);
    for (let i = 0; i < 100 && !status.body.done; i++) {
      await node.app.runBackgroundJobs();
      status = await api('GET', `/v2/projects/${project}/regions/local/operations/${operation.id}`);
    }
    assert.equal(
      status.body.state,
      'done',
      JSON.stringify(status.body) +
        node.logLines.filter((l) => l.includes('warn') || l.includes('rror')).join('\n'),
    );
    assert.deepEqual(status.body.progress, { total: 12, done: 12 });
    await node.stop();
    const { DatabaseSync } = await import('node:sqlite');
    const raw = new DatabaseSync(`${dataDir}/coffer.db`);
    const restore = raw.prepare(
      'UPDATE sm_versions SET wrapped_key = ?, wrap_key_uid = ? WHERE secret_uid = ? AND version = ?',
    );
    for (const row of wrappedBefore.slice(0, 6))
      restore.run(Buffer.from(row.wrapped_key!), row.wrap_key_uid, row.secret_uid, row.version);
    raw
      .prepare("UPDATE sm_operations SET state = 'running', done = 6, lease_until = ? WHERE id = ?")
      .run(clock.nowMs() + 5000, operation.id);
    raw.close();

    node = await startTestNode({ env, clock, dataDir });
    const op = `/v2/projects/${project}/regions/local/operations/${operation.id}`;
    assert.equal((await api('GET', op)).body.done, false);
    for (const [path, value] of expected) {
      assert.equal(
        (await api('GET', `${base}/secrets/${enc(path)}/value`)).body.value,
        value,
        'reads work mid-operation',
      );
    }
    await node.app.runBackgroundJobs();
    assert.equal((await api('GET', op)).body.done, false, 'the dead node’s lease is respected');
    clock.advance(6000);
    await node.app.runBackgroundJobs();
    const done = await api('GET', op);
    assert.equal(done.body.state, 'done');
    const after = await node.app.storage.db.selectFrom('sm_versions').select(['wrap_key_uid']).execute();
    assert.equal(
      new Set(after.map((r) => r.wrap_key_uid)).size,
      1,
      'every version is wrapped by the new key',
    );
    assert.notEqual(after[0]!.wrap_key_uid, wrappedBefore[0]!.wrap_key_uid);
    for (const [path, value] of expected) {
      assert.equal((await api('GET', `${base}/secrets/${enc(path)}/value`)).body.value, value);
      assert.equal(
        (await api('GET', `${base}/secrets/${enc(path)}/value?version=1`)).body.value,
        value.replace('second', 'first'),
      );
    }
    const removed = await api('PUT', base, { name: 'i', kmsKey: null });
    assert.equal(removed.body.kmsKey, null);
    for (let i = 0; i < 20; i++) await node.app.runBackgroundJobs();
    assert.equal(
      (await api('GET', `/v2/projects/${project}/regions/local/operations/${removed.body.operation.id}`)).body
        .state,
      'done',
    );
    for (const [path, value] of expected)
      assert.equal((await api('GET', `${base}/secrets/${enc(path)}/value`)).body.value, value);
    const rootWrapped = await node.app.storage.db.selectFrom('sm_versions').select('wrap_key_uid').execute();
    assert.ok(
      rootWrapped.every((r) => r.wrap_key_uid === null),
      'removing the key rewraps under the root key',
    );
  } finally {
    await node.destroy();
  }
});
