import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('audit fails closed', () => {
  let node: TestNode;
  let token: string;
  let keyPath: string;
  let ciphertext: string;
  const secret = 'never-returned-unaudited';

  before(async () => {
    node = await startTestNode({
      env: { COFFER_AUDIT_TIMEOUT_MS: '300', COFFER_STORAGE_WRITE_TIMEOUT_MS: '5000' },
    });
    token = node.adminToken!;
    const api = (method: string, path: string, body?: unknown) =>
      call(node.url, method, path, { token, body });
    const project = (await api('POST', '/v2/projects', {})).body.id;
    const ring = (await api('POST', `/v2/projects/${project}/regions/local/keyrings`, { displayName: 'r' }))
      .body.id;
    const key = (
      await api('POST', `/v2/projects/${project}/regions/local/keyrings/${ring}/keys`, {
        algorithm: 'aes256-gcm96',
      })
    ).body.id;
    keyPath = `/v2/projects/${project}/regions/local/keyrings/${ring}/keys/${key}`;
    ciphertext = (await api('POST', `${keyPath}/encrypt`, { plaintext: b64(secret) })).body.ciphertext;
  });
  after(async () => node.destroy());

  test('when the audit write is stuck past its bounded wait, a decrypt answers 503 audit_unavailable without the plaintext', async () => {
    const blocker = new DatabaseSync(join(node.dataDir, 'coffer.db'));
    blocker.exec('PRAGMA busy_timeout = 0; BEGIN IMMEDIATE');
    try {
      const started = Date.now();
      const res = await call(node.url, 'POST', `${keyPath}/decrypt`, { token, body: { ciphertext } });
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, 'audit_unavailable');
      assert.ok(!JSON.stringify(res.body).includes(b64(secret)));
      assert.ok(Date.now() - started < 4000, 'the wait is bounded');
      const health = await call(node.url, 'GET', '/v2/health');
      assert.equal(health.body.status, 'degraded');
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      status = (await call(node.url, 'POST', `${keyPath}/decrypt`, { token, body: { ciphertext } })).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(status, 200, 'recovers once the disk answers again');
    assert.equal((await call(node.url, 'GET', '/v2/health')).body.status, 'ok');
  });

  test('when the audit table rejects the event, the plaintext is withheld', async () => {
    const admin = new DatabaseSync(join(node.dataDir, 'coffer.db'));
    admin.exec('PRAGMA busy_timeout = 5000; ALTER TABLE audit_events RENAME TO audit_events_gone');
    try {
      const res = await call(node.url, 'POST', `${keyPath}/decrypt`, { token, body: { ciphertext } });
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, 'audit_unavailable');
      assert.ok(!JSON.stringify(res.body).includes(b64(secret)));
    } finally {
      admin.exec('ALTER TABLE audit_events_gone RENAME TO audit_events');
      admin.close();
    }
  });
});
