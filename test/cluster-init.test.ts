import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createTestDatabase, postgresSkipReason } from './support/postgres.ts';
import { unsealWith } from './support/unseal.ts';
import { call, startTestNode, startTestNodes, type TestNode } from './support/test-node.ts';

const skip = (await postgresSkipReason()) ?? false;

describe('several nodes on one PostgreSQL', { skip }, () => {
  test('two shamir nodes: init succeeds once, both unseal with the same shares and share data', async () => {
    const database = await createTestDatabase();
    const env = { COFFER_DATABASE_URL: database.url, COFFER_SEAL: 'shamir' };
    const [a, b] = (await startTestNodes([{ env }, { env }])) as [TestNode, TestNode];
    try {
      const body = { secretShares: 3, secretThreshold: 2 };
      const answers = await Promise.all([
        call(a.url, 'POST', '/v2/sys/init', { body }),
        call(b.url, 'POST', '/v2/sys/init', { body }),
      ]);
      const statuses = answers.map((answer) => answer.status).sort();
      assert.deepEqual(statuses, [200, 409]);
      const init = answers.find((answer) => answer.status === 200)!.body;
      for (const node of [a, b]) {
        await unsealWith(node.url, init.keys.slice(0, 2));
        assert.equal((await call(node.url, 'GET', '/v2/sys/seal-status')).body.sealed, false);
      }
      const created = await call(a.url, 'POST', '/v2/projects', {
        token: init.rootToken,
        body: { displayName: 'shared' },
      });
      const seen = await call(b.url, 'GET', `/v2/projects/${created.body.id}`, { token: init.rootToken });
      assert.equal(seen.body.displayName, 'shared');
    } finally {
      await Promise.all([a.destroy(), b.destroy()]);
      await database.drop();
    }
  });

  test('two file-seal nodes with the same key file starting at once initialize exactly once', async () => {
    const database = await createTestDatabase();
    const seedDir = mkdtempSync(join(tmpdir(), 'coffer-seed-'));
    // A throwaway node makes a key file in the right format; it uses its own SQLite store.
    const seed = await startTestNode({ dataDir: seedDir });
    await seed.stop();
    const dirs = [mkdtempSync(join(tmpdir(), 'coffer-a-')), mkdtempSync(join(tmpdir(), 'coffer-b-'))];
    for (const dir of dirs) copyFileSync(join(seedDir, 'seal.key'), join(dir, 'seal.key'));
    const env = { COFFER_DATABASE_URL: database.url };
    const nodes = await startTestNodes(dirs.map((dataDir) => ({ dataDir, env })));
    try {
      const tokenFiles = dirs.filter((dir) => existsSync(join(dir, 'root-token')));
      assert.equal(tokenFiles.length, 1, 'exactly one node initialized');
      const token = nodes.find((node) => node.adminToken)!.adminToken!;
      for (const node of nodes)
        assert.equal((await call(node.url, 'GET', '/v2/projects', { token })).status, 200);
    } finally {
      await Promise.all(nodes.map((node) => node.destroy()));
      rmSync(seedDir, { recursive: true, force: true });
      await database.drop();
    }
  });
});
