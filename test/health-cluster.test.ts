import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTestDatabase, postgresSkipReason } from './support/postgres.ts';
import { call, startTestNode, startTestNodes, type TestNode } from './support/test-node.ts';

const postgresSkip = (await postgresSkipReason()) ?? false;

/** `GET /v2/health` → `cluster` (docs/cluster.md): the nodes a node sees on its database. */
test('health on SQLite: the cluster is this node alone', async () => {
  const node = await startTestNode();
  try {
    const health = await call(node.url, 'GET', '/v2/health');
    assert.equal(health.status, 200);
    assert.match(health.body.cluster.nodeId, /^[0-9a-f]{12}$/);
    assert.deepEqual(health.body.cluster.nodes, [health.body.cluster.nodeId]);
  } finally {
    await node.destroy();
  }
});

test(
  'health on PostgreSQL: each node lists the nodes connected to its database, not those of another database, and a stopped node drops out',
  { skip: postgresSkip },
  async () => {
    const [shared, other] = [await createTestDatabase(), await createTestDatabase()];
    const nodes: TestNode[] = [];
    try {
      // b joins a's database with a copy of a's seal key, as any node of a file-sealed cluster.
      nodes.push(await startTestNode({ env: { COFFER_DATABASE_URL: shared.url } }));
      const bDir = mkdtempSync(join(tmpdir(), 'coffer-health-b-'));
      copyFileSync(join(nodes[0]!.dataDir, 'seal.key'), join(bDir, 'seal.key'));
      nodes.push(
        ...(await startTestNodes([
          { dataDir: bDir, env: { COFFER_DATABASE_URL: shared.url } },
          { env: { COFFER_DATABASE_URL: other.url } },
        ])),
      );
      const [a, b, elsewhere] = nodes as [TestNode, TestNode, TestNode];
      const view = async (node: TestNode) => (await call(node.url, 'GET', '/v2/health')).body.cluster;
      const [ofA, ofB, ofElsewhere] = [await view(a), await view(b), await view(elsewhere)];
      const pair = [ofA.nodeId, ofB.nodeId].sort();
      assert.deepEqual(ofA.nodes, pair);
      assert.deepEqual(ofB.nodes, pair);
      assert.deepEqual(ofElsewhere.nodes, [ofElsewhere.nodeId]);
      await b.destroy();
      // The view is refreshed at most once a second; b's sessions end with its pool.
      let seen: string[] = [];
      for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
        seen = (await view(a)).nodes;
        if (seen.length === 1) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.deepEqual(seen, [ofA.nodeId]);
    } finally {
      await Promise.all(nodes.map((node) => node.destroy()));
      await shared.drop();
      await other.drop();
    }
  },
);
