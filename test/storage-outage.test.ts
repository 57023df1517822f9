import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createTestDatabase, postgresSkipReason } from './support/postgres.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';
import { call, startTestNode } from './support/test-node.ts';

const skip = (await postgresSkipReason()) ?? false;

describe('a database that goes down mid-run', { skip }, () => {
  test('requests answer 503 storage_unavailable (never hang, never 500), health degrades, and all recovers', async () => {
    const database = await createTestDatabase();
    const url = new URL(database.url);
    const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const node = await startTestNode({
      env: { COFFER_DATABASE_URL: url.toString(), COFFER_STORAGE_WRITE_TIMEOUT_MS: '1500' },
    });
    const token = node.adminToken!;
    try {
      assert.equal(
        (await call(node.url, 'POST', '/v2/projects', { token, body: { displayName: 'before' } })).status,
        201,
      );
      await proxy.cut();
      const write = await call(node.url, 'POST', '/v2/projects', { token, body: { displayName: 'during' } });
      assert.equal(write.status, 503, JSON.stringify(write.body));
      assert.equal(write.body.error.code, 'storage_unavailable');
      const read = await call(node.url, 'GET', '/v2/projects', { token });
      assert.equal(read.status, 503);
      const health = await call(node.url, 'GET', '/v2/health');
      assert.equal(health.status, 200);
      assert.equal(health.body.status, 'degraded');
      assert.equal(health.body.storage.status, 'failing');
      await proxy.restore();
      let recovered = 0;
      for (let attempt = 0; attempt < 50 && recovered !== 201; attempt++) {
        recovered = (await call(node.url, 'POST', '/v2/projects', { token, body: { displayName: 'after' } }))
          .status;
        if (recovered !== 201) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(recovered, 201);
      assert.equal((await call(node.url, 'GET', '/v2/health')).body.status, 'ok');
    } finally {
      await node.destroy();
      await proxy.close();
      await database.drop();
    }
  });
});
