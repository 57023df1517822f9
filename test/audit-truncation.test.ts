import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import pg from 'pg';
import { auditHeadFileName } from '../src/audit/audit-head-file.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, startTestNodes, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();

/** Runs SQL straight against a node's database, as an attacker with storage access would. */
async function rawSql(
  dataDir: string,
  database: TestDatabase | undefined,
  statement: string,
): Promise<Record<string, unknown>[]> {
  if (!database) {
    const db = new DatabaseSync(join(dataDir, 'coffer.db'));
    try {
      db.exec('PRAGMA busy_timeout = 5000');
      const prepared = db.prepare(statement);
      return /^\s*select/i.test(statement)
        ? (prepared.all() as Record<string, unknown>[])
        : (prepared.run(), []);
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    return (await client.query(statement)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

async function busy(node: TestNode, requests: number): Promise<void> {
  for (let i = 0; i < requests; i++)
    assert.equal((await call(node.url, 'GET', '/v2/projects', { token: node.adminToken! })).status, 200);
}

const verifyOn = async (node: TestNode, token: string) =>
  (await call(node.url, 'GET', '/v2/sys/audit/verify', { token })).body;

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `audit truncation (${engine})`,
    { skip: engine === 'postgres' ? (postgresSkip ?? false) : false },
    () => {
      const env: Record<string, string> = { COFFER_AUDIT_CHECKPOINT_EVENTS: '5' };

      /** Runs a node, stops it, and returns its data dir, database and the chain it wrote. */
      async function writtenChain(): Promise<{
        dataDir: string;
        database?: TestDatabase;
        chain: string;
        cut: number;
      }> {
        let database: TestDatabase | undefined;
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        const node = await startTestNode({ env });
        await busy(node, 23);
        await node.stop();
        const [chain] = await rawSql(
          node.dataDir,
          database,
          'SELECT chain_id, head_seq FROM audit_chains ORDER BY head_seq DESC',
        );
        const chainId = String(chain!.chain_id);
        const checkpoints = await rawSql(
          node.dataDir,
          database,
          `SELECT seq FROM audit_checkpoints WHERE chain_id = '${chainId}' ORDER BY seq`,
        );
        // Cut the chain back to a signed checkpoint well before its end: the strongest truncation.
        const cut = Number(checkpoints[1]!.seq);
        assert.ok(cut < Number(chain!.head_seq));
        return { dataDir: node.dataDir, ...(database ? { database } : {}), chain: chainId, cut };
      }

      async function truncate(
        dataDir: string,
        database: TestDatabase | undefined,
        chain: string,
        cut: number,
      ) {
        await rawSql(
          dataDir,
          database,
          `DELETE FROM audit_events WHERE chain_id = '${chain}' AND seq > ${cut}`,
        );
        await rawSql(
          dataDir,
          database,
          `DELETE FROM audit_checkpoints WHERE chain_id = '${chain}' AND seq > ${cut}`,
        );
      }

      test('a node restarting over an intact chain still verifies', async () => {
        const { dataDir, database, chain } = await writtenChain();
        const [row] = await rawSql(
          dataDir,
          database,
          `SELECT head_seq FROM audit_chains WHERE chain_id = '${chain}'`,
        );
        const kept = JSON.parse(readFileSync(join(dataDir, auditHeadFileName), 'utf8'));
        assert.deepEqual(
          [kept.chainId, kept.seq, kept.kind],
          [chain, Number(row!.head_seq), 'closing'],
          'the head file keeps the newest signed head: the closing checkpoint',
        );
        const node = await startTestNode({ env, dataDir });
        try {
          await busy(node, 7);
          const result = await verifyOn(node, node.adminToken!);
          assert.equal(result.valid, true, JSON.stringify(result));
          assert.deepEqual(result.problems, []);
        } finally {
          await node.destroy();
          await database?.drop();
        }
      });

      test('cutting the tail events and their checkpoints (and the chain head) is found by the head file, naming the first missing seq', async () => {
        const { dataDir, database, chain, cut } = await writtenChain();
        await truncate(dataDir, database, chain, cut);
        await rawSql(
          dataDir,
          database,
          `UPDATE audit_chains SET head_seq = ${cut} WHERE chain_id = '${chain}'`,
        );
        const node = await startTestNode({ env, dataDir });
        try {
          const result = await verifyOn(node, node.adminToken!);
          assert.equal(result.valid, false, JSON.stringify(result));
          assert.deepEqual(result.problems, [{ chain, kind: 'truncated', firstMissingSeq: cut + 1 }]);
          assert.match(result.reason, new RegExp(`#${cut + 1}`));
          // The node keeps running on a fresh chain, and the cut stays visible.
          await busy(node, 7);
          assert.equal((await verifyOn(node, node.adminToken!)).valid, false);
        } finally {
          await node.destroy();
          await database?.drop();
        }
      });

      test('without the head file, a chain head ahead of its last event still names the cut', async () => {
        const { dataDir, database, chain, cut } = await writtenChain();
        await truncate(dataDir, database, chain, cut);
        rmSync(join(dataDir, auditHeadFileName), { force: true });
        const node = await startTestNode({ env, dataDir });
        try {
          const result = await verifyOn(node, node.adminToken!);
          assert.equal(result.valid, false, JSON.stringify(result));
          assert.deepEqual(result.problems, [{ chain, kind: 'truncated', firstMissingSeq: cut + 1 }]);
        } finally {
          await node.destroy();
          await database?.drop();
        }
      });

      test('while the node runs, cutting unsigned tail events (head_seq lowered too) is found from its writer', async () => {
        const running: Record<string, string> = {
          ...env,
          COFFER_AUDIT_CHECKPOINT_EVENTS: '1000',
          COFFER_AUDIT_CHECKPOINT_MS: '3600000',
        };
        let database: TestDatabase | undefined;
        if (engine === 'postgres') {
          database = await createTestDatabase();
          running.COFFER_DATABASE_URL = database.url;
        }
        const node = await startTestNode({ env: running });
        try {
          await busy(node, 9);
          const chain = node.app.audit.durableHead().chainId;
          const signedUpTo = await rawSql(
            node.dataDir,
            database,
            `SELECT MAX(seq) AS seq FROM audit_checkpoints WHERE chain_id = '${chain}'`,
          );
          const cut = Number(signedUpTo[0]!.seq) + 2;
          await rawSql(
            node.dataDir,
            database,
            `DELETE FROM audit_events WHERE chain_id = '${chain}' AND seq > ${cut}`,
          );
          await rawSql(
            node.dataDir,
            database,
            `UPDATE audit_chains SET head_seq = ${cut} WHERE chain_id = '${chain}'`,
          );
          const result = await verifyOn(node, node.adminToken!);
          assert.equal(result.valid, false, JSON.stringify(result));
          assert.deepEqual(result.problems, [{ chain, kind: 'truncated', firstMissingSeq: cut + 1 }]);
        } finally {
          await node.destroy();
          await database?.drop();
        }
      });

      test('deleting a checkpoint in the middle breaks the chain of checkpoints', async () => {
        const { dataDir, database, chain, cut } = await writtenChain();
        await rawSql(
          dataDir,
          database,
          `DELETE FROM audit_checkpoints WHERE chain_id = '${chain}' AND seq = ${cut}`,
        );
        const node = await startTestNode({ env, dataDir });
        try {
          const result = await verifyOn(node, node.adminToken!);
          assert.equal(result.valid, false, JSON.stringify(result));
          assert.equal(result.problems[0].kind, 'checkpoint_missing');
          assert.equal(result.problems[0].chain, chain);
        } finally {
          await node.destroy();
          await database?.drop();
        }
      });
    },
  );
}

describe('audit truncation with several nodes on one PostgreSQL', { skip: postgresSkip ?? false }, () => {
  test('each node keeps its own head file and chain; restarts keep every chain verifying, and a cut is found', async () => {
    const database = await createTestDatabase();
    const env = { COFFER_DATABASE_URL: database.url, COFFER_AUDIT_CHECKPOINT_EVENTS: '5' };
    const first = await startTestNode({ env });
    const dirB = mkdtempSync(join(tmpdir(), 'coffer-node-b-'));
    copyFileSync(join(first.dataDir, 'seal.key'), join(dirB, 'seal.key'));
    const token = first.adminToken!;
    const run = async (node: TestNode, requests: number) => {
      for (let i = 0; i < requests; i++)
        assert.equal((await call(node.url, 'GET', '/v2/projects', { token })).status, 200);
    };
    let nodes: TestNode[] = [first];
    try {
      const [b] = await startTestNodes([{ env, dataDir: dirB }]);
      nodes = [first, b!];
      await Promise.all([run(first, 12), run(b!, 12)]);
      for (const node of nodes) assert.equal((await verifyOn(node, token)).valid, true);
      // Restart both: each links its new chain to its own previous head.
      await Promise.all(nodes.map((node) => node.stop()));
      nodes = await startTestNodes([
        { env, dataDir: first.dataDir },
        { env, dataDir: dirB },
      ]);
      await Promise.all(nodes.map((node) => run(node, 8)));
      for (const node of nodes) {
        assert.ok(existsSync(join(node.dataDir, auditHeadFileName)));
        const result = await verifyOn(node, token);
        assert.equal(result.valid, true, JSON.stringify(result));
      }
      // Node B's newest chain is cut back; node B finds it from its head file once it restarts.
      await nodes[1]!.stop();
      const [chainRow] = await rawSql(
        dirB,
        database,
        `SELECT chain_id FROM audit_checkpoints WHERE kind = 'closing' ORDER BY time DESC LIMIT 1`,
      );
      const chain = String(chainRow!.chain_id);
      await rawSql(dirB, database, `DELETE FROM audit_events WHERE chain_id = '${chain}' AND seq > 2`);
      await rawSql(dirB, database, `DELETE FROM audit_checkpoints WHERE chain_id = '${chain}' AND seq > 2`);
      await rawSql(dirB, database, `UPDATE audit_chains SET head_seq = 2 WHERE chain_id = '${chain}'`);
      const [again] = await startTestNodes([{ env, dataDir: dirB }]);
      nodes[1] = again!;
      const result = await verifyOn(again!, token);
      assert.equal(result.valid, false, JSON.stringify(result));
      assert.deepEqual(result.problems, [{ chain, kind: 'truncated', firstMissingSeq: 3 }]);
    } finally {
      await Promise.all(nodes.map((node) => node.destroy()));
      rmSync(dirB, { recursive: true, force: true });
      await database.drop();
    }
  });
});
