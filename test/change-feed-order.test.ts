import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, postgresSkipReason } from './support/postgres.ts';
import { openSse } from './support/sse-client.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const writers = 64;
const writesEach = 4;
const limits = {
  COFFER_RATE_LIMIT_PER_PRINCIPAL: '100000',
  COFFER_RATE_LIMIT_PER_PRINCIPAL_BURST: '100000',
  COFFER_RATE_LIMIT_PER_ADDRESS: '100000',
  COFFER_RATE_LIMIT_PER_ADDRESS_BURST: '100000',
};

/**
 * 64 concurrent writers (across two nodes on PostgreSQL, where transactions commit out of sequence
 * order; one node on SQLite, which cannot share its file) while a stream on one node and a page
 * poller on the other follow the feed: each must receive every change exactly once, in strictly
 * increasing cursor order, and nothing the database holds at the end may be missing.
 */
async function writeWhileFollowing(nodes: readonly TestNode[], admin: string): Promise<void> {
  const first = nodes[0]!;
  const last = nodes[nodes.length - 1]!;
  const projectId = (
    await call(first.url, 'POST', '/v2/projects', { token: admin, body: { displayName: 'order' } })
  ).body.id as string;
  const instance = (
    await call(first.url, 'POST', `/v2/projects/${projectId}/regions/local/instances`, {
      token: admin,
      body: { name: 'order' },
    })
  ).body.id as string;
  const instancePath = `/v2/projects/${projectId}/regions/local/instances/${instance}`;
  const feed = `/v2/projects/${projectId}/changes`;
  // The instance's own change may not be numbered yet (the sequencer runs just after the answer):
  // number it first, so that `latest` is after it and only the writers' changes follow.
  for (const node of nodes) await node.app.syncChanges();
  const start = (await call(last.url, 'GET', `${feed}?after=latest`, { token: admin })).body
    .nextCursor as string;

  const stream = await openSse(`${last.url}${feed}:stream?after=${start}`, {
    authorization: `Bearer ${admin}`,
  });
  assert.equal(stream.status, 200);
  const streamed: bigint[] = [];
  const paged: bigint[] = [];
  let writing = true;
  const poller = (async () => {
    let cursor = start;
    for (;;) {
      const page = await call(first.url, 'GET', `${feed}?after=${cursor}&pageSize=1000`, { token: admin });
      assert.equal(page.status, 200);
      for (const item of page.body.items as Array<{ cursor: string }>) paged.push(BigInt(item.cursor));
      if (page.body.items.length === 0 && !writing) return;
      cursor = page.body.nextCursor;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  // Its failure is reported by `await poller` below; a failure of the writers first stops it.
  poller.catch(() => undefined);
  try {
    await writeAndCompare();
  } finally {
    writing = false;
    stream.close();
  }
  await poller;

  async function writeAndCompare(): Promise<void> {
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const node = nodes[w % nodes.length]!;
        const path = `w${w}`;
        const created = await call(node.url, 'POST', `${instancePath}/secrets`, {
          token: admin,
          body: { path },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        for (let i = 0; i < writesEach; i++) {
          const put = await call(node.url, 'PUT', `${instancePath}/secrets/${path}/value`, {
            token: admin,
            body: { value: `v${i}` },
          });
          assert.equal(put.status, 201, JSON.stringify(put.body));
        }
      }),
    );
    for (const node of nodes) await node.app.syncChanges();
    const expected = (
      await first.app.storage.db
        .selectFrom('change_log')
        .select('cursor')
        .where('project_id', '=', projectId)
        .where('cursor', '>', Number(start))
        .orderBy('cursor')
        .execute()
    ).map((r) => BigInt(r.cursor!));
    assert.equal(expected.length, writers * (1 + writesEach));
    const unsequenced = await first.app.storage.db
      .selectFrom('change_log')
      .select('seq')
      .where('cursor', 'is', null)
      .execute();
    assert.equal(unsequenced.length, 0, 'every change has its cursor');

    while (streamed.length < expected.length) {
      const event = await stream.next(5000);
      assert.ok(event, 'the stream stays open');
      if (event.event === 'change') streamed.push(BigInt(event.id!));
    }
    writing = false;
    await poller;

    for (const [name, received] of [
      ['stream', streamed],
      ['pages', paged],
    ] as const) {
      for (let i = 1; i < received.length; i++)
        assert.ok(received[i]! > received[i - 1]!, `${name}: cursors strictly increase`);
      assert.deepEqual(received, expected, `${name}: every change exactly once, none missing`);
    }
  }
}

describe('change feed order under concurrent writers', () => {
  test('SQLite: one node, 64 concurrent writers, a stream and a poller receive every change once in order', async () => {
    const node = await startTestNode({ env: limits });
    try {
      await writeWhileFollowing([node], node.adminToken!);
    } finally {
      await node.destroy();
    }
  });

  test(
    'PostgreSQL: two nodes, 64 concurrent writers, a stream and a poller receive every change once in order',
    { skip: postgresSkip ?? false },
    async () => {
      const database = await createTestDatabase();
      const env = { ...limits, COFFER_DATABASE_URL: database.url };
      const seed = await startTestNode({ env });
      const otherDir = mkdtempSync(join(tmpdir(), 'coffer-node-b-'));
      copyFileSync(join(seed.dataDir, 'seal.key'), join(otherDir, 'seal.key'));
      const other = await startTestNode({ env, dataDir: otherDir }).catch(async (err) => {
        await seed.destroy();
        throw err;
      });
      try {
        await writeWhileFollowing([seed, other], seed.adminToken!);
      } finally {
        await other.destroy();
        await seed.destroy();
        await database.drop();
      }
    },
  );

  test(
    'PostgreSQL: a change that commits after a later-inserted one gets a later cursor, never one below what a reader was given',
    { skip: postgresSkip ?? false },
    async () => {
      const database = await createTestDatabase();
      const node = await startTestNode({ env: { COFFER_DATABASE_URL: database.url } });
      const held = new pg.Client({ connectionString: database.url });
      try {
        const admin = node.adminToken!;
        const projectId = (
          await call(node.url, 'POST', '/v2/projects', { token: admin, body: { displayName: 'late' } })
        ).body.id as string;
        const feed = `/v2/projects/${projectId}/changes`;
        await node.app.syncChanges();
        const start = (await call(node.url, 'GET', `${feed}?after=latest`, { token: admin })).body
          .nextCursor as string;
        // A transaction takes its sequence number first and commits last.
        await held.connect();
        await held.query('BEGIN');
        await held.query(
          `INSERT INTO change_log (time, kind, resource, project_id, principal) VALUES ($1, 'project.updated', $2, $3, 'user:late@example.com')`,
          [Date.now(), `projects/${projectId}`, projectId],
        );
        const patched = await call(node.url, 'PATCH', `/v2/projects/${projectId}`, {
          token: admin,
          body: { displayName: 'early' },
        });
        assert.equal(patched.status, 200, JSON.stringify(patched.body));
        await node.app.syncChanges();
        const before = (await call(node.url, 'GET', `${feed}?after=${start}`, { token: admin })).body;
        assert.deepEqual(
          before.items.map((i: { principal: string }) => i.principal),
          ['user:admin@coffer.internal'],
        );
        await held.query('COMMIT');
        await node.app.syncChanges();
        const afterCommit = (
          await call(node.url, 'GET', `${feed}?after=${before.nextCursor}`, { token: admin })
        ).body;
        assert.deepEqual(
          afterCommit.items.map((i: { principal: string }) => i.principal),
          ['user:late@example.com'],
          'the late row is delivered after the cursor the reader holds',
        );
        assert.ok(BigInt(afterCommit.items[0].cursor) > BigInt(before.nextCursor));
      } finally {
        await held.end().catch(() => undefined);
        await node.destroy();
        await database.drop();
      }
    },
  );
});
