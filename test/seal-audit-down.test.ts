import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, startTestNode } from './support/test-node.ts';

const timeoutMs = 300;
type Writable = { write: (...args: unknown[]) => Promise<unknown> };

test('sealing while audit storage fails: the node is sealed, the answer says so (503 audit_unavailable)', async () => {
  const node = await startTestNode({ env: { COFFER_AUDIT_TIMEOUT_MS: String(timeoutMs) } });
  const storage = node.app.storage as unknown as Writable;
  const write = storage.write;
  try {
    storage.write = () => Promise.reject(new Error('disk I/O error'));
    const res = await call(node.url, 'POST', '/v2/sys/seal', { token: node.adminToken! });
    storage.write = write;
    assert.equal(node.app.barrier.sealed, true);
    assert.equal(res.status, 503);
    assert.equal(res.body.error.code, 'audit_unavailable');
    assert.match(res.body.error.message, /IS sealed/);
  } finally {
    storage.write = write;
    await node.destroy();
  }
});

test('sealing while an audit write hangs: seal() drops the keys within the audit timeout', async () => {
  const node = await startTestNode({ env: { COFFER_AUDIT_TIMEOUT_MS: String(timeoutMs) } });
  const storage = node.app.storage as unknown as Writable;
  const write = storage.write;
  const hung: (() => void)[] = [];
  try {
    storage.write = () => new Promise((_, reject) => hung.push(() => reject(new Error('released'))));
    // A batch in flight that never finishes: signHead queues behind it.
    void node.app.audit
      .append([
        {
          id: '0190a0a0-0000-7000-8000-000000000001',
          timeMs: Date.now(),
          requestId: 'r',
          action: 'x.y',
          principal: 'user:a@example.com',
          resource: 'root',
          result: 'ok',
          status: 200,
        },
      ])
      .catch(() => undefined);
    const started = Date.now();
    await assert.rejects(node.app.seal(), { code: 'audit_unavailable' });
    assert.ok(Date.now() - started < timeoutMs + 1000, `took ${Date.now() - started} ms`);
    assert.equal(node.app.barrier.sealed, true);
  } finally {
    storage.write = write;
    for (const release of hung) release();
    await node.destroy();
  }
});
