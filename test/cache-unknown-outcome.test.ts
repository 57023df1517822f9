// A write whose outcome is unknown (no answer within the write timeout) may commit later. Neither a
// read made in between (which refills the metadata caches with the state before it) nor the
// operator's retry (which finds the change already in effect and answers 200 without writing) may
// leave the node serving the old state until its next feed poll (60 s here, to make that visible).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const enc = encodeURIComponent;

describe('metadata caches and writes whose outcome was unknown (SQLite, one node)', () => {
  let node: TestNode;
  let project: string;
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: node.adminToken!, ...(body !== undefined ? { body } : {}) });
  /** Runs SQL on the database file behind the node's back (a change its feed never reports). */
  const behindItsBack = (sql: string, ...params: string[]) => {
    const db = new DatabaseSync(join(node.dataDir, 'coffer.db'));
    try {
      db.prepare(sql).run(...params);
    } finally {
      db.close();
    }
  };
  const newKey = async () => {
    const ring = (await api('POST', `/v2/projects/${project}/regions/local/keyrings`, { displayName: 'r' }))
      .body.id;
    const key = await api('POST', `/v2/projects/${project}/regions/local/keyrings/${ring}/keys`, {
      algorithm: 'aes256-gcm96',
    });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    const path = `/v2/projects/${project}/regions/local/keyrings/${ring}/keys/${key.body.id}`;
    const encrypt = () =>
      api('POST', `${path}/encrypt`, { plaintext: Buffer.from('hello').toString('base64') });
    assert.equal((await encrypt()).status, 200);
    assert.equal((await encrypt()).status, 200); // cached
    return { path, uid: key.body.uid as string | undefined, encrypt };
  };

  before(async () => {
    node = await startTestNode({
      env: {
        COFFER_STORAGE_WRITE_TIMEOUT_MS: '400',
        COFFER_CHANGE_POLL_MS: '60000',
        COFFER_BACKGROUND_INTERVAL_MS: '3600000',
      },
    });
    project = (await api('POST', '/v2/projects', {})).body.id;
  });
  after(async () => {
    await node?.destroy();
  });

  test('a disable that timed out and commits later is in effect at once, retried or not', async () => {
    const key = await newKey();
    const blocker = new DatabaseSync(join(node.dataDir, 'coffer.db'));
    blocker.exec('BEGIN IMMEDIATE'); // the disk stalls
    const first = await api('POST', `${key.path}/disable?force=true`, {});
    assert.equal(first.status, 503, JSON.stringify(first.body));
    const during = await key.encrypt(); // reads the key (still active) and caches it; its audit fails
    assert.equal(during.status, 503, JSON.stringify(during.body));
    blocker.exec('ROLLBACK');
    blocker.close();
    await sleep(600); // the writer thread commits the disable now: the late commit is reported
    const afterLate = await key.encrypt();
    assert.notEqual(afterLate.status, 200, 'the late commit left the active key cached');
    const retry = await api('POST', `${key.path}/disable?force=true`, {});
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.equal(retry.body.state, 'disabled');
    assert.notEqual((await key.encrypt()).status, 200);
  });

  test('a key change found already in effect drops the key from the caches', async () => {
    const key = await newKey();
    const [, , , p, , , , ring, , id] = key.path.split('/');
    behindItsBack(
      `UPDATE kms_keys SET state = 'disabled' WHERE project_id = ? AND key_ring_id = ? AND id = ?`,
      p!,
      ring!,
      id!,
    );
    assert.equal((await key.encrypt()).status, 200, 'served from the cache (the feed saw nothing)');
    const retry = await api('POST', `${key.path}/disable?force=true`, {});
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.notEqual((await key.encrypt()).status, 200, 'the no-op left the active key cached');
  });

  test('a key version change found already in effect drops the key from the caches', async () => {
    const key = await newKey();
    const [, , , p, , , , ring, , id] = key.path.split('/');
    behindItsBack(
      `UPDATE kms_key_versions SET state = 'disabled' WHERE version = 1 AND key_uid =
         (SELECT uid FROM kms_keys WHERE project_id = ? AND key_ring_id = ? AND id = ?)`,
      p!,
      ring!,
      id!,
    );
    assert.equal((await key.encrypt()).status, 200, 'served from the cache (the feed saw nothing)');
    const retry = await api('POST', `${key.path}/versions/1/disable`);
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.notEqual((await key.encrypt()).status, 200, 'the no-op left the enabled version cached');
  });

  test('a secret version change found already in effect drops the secret from the caches', async () => {
    const instance = await api('POST', `/v2/projects/${project}/regions/local/instances`, { name: 'main' });
    assert.equal(instance.status, 201, JSON.stringify(instance.body));
    const base = `/v2/projects/${project}/regions/local/instances/${instance.body.id}`;
    assert.equal((await api('POST', `${base}/secrets`, { path: 'db/pw', value: 'v1' })).status, 201);
    const value = () => api('GET', `${base}/secrets/${enc('db/pw')}/value?version=1`);
    assert.equal((await value()).status, 200);
    assert.equal((await value()).status, 200); // cached
    behindItsBack(
      `UPDATE sm_versions SET state = 'disabled' WHERE version = 1 AND secret_uid =
         (SELECT uid FROM sm_secrets WHERE path = 'db/pw' AND project_id = ?)`,
      project,
    );
    assert.equal((await value()).status, 200, 'served from the cache (the feed saw nothing)');
    const retry = await api('POST', `${base}/secrets/${enc('db/pw')}/versions/1/disable`);
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.notEqual((await value()).status, 200, 'the no-op left the enabled version cached');
  });
});
