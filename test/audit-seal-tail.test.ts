import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

/** With the database only: deletes a chain's events after its newest checkpoint and lowers head_seq to match. */
function cutUnsignedTail(dataDir: string, chainId: string): string[] {
  const db = new DatabaseSync(join(dataDir, 'coffer.db'));
  try {
    const { s: signed } = db
      .prepare('SELECT max(seq) AS s FROM audit_checkpoints WHERE chain_id = ?')
      .get(chainId) as { s: number };
    const cut = db
      .prepare('SELECT action FROM audit_events WHERE chain_id = ? AND seq > ? ORDER BY seq')
      .all(chainId, signed) as { action: string }[];
    db.prepare('DELETE FROM audit_events WHERE chain_id = ? AND seq > ?').run(chainId, signed);
    db.prepare('UPDATE audit_chains SET head_seq = ? WHERE chain_id = ?').run(signed, chainId);
    return cut.map((row) => row.action);
  } finally {
    db.close();
  }
}

const chainOf = async (node: TestNode) =>
  (
    await node.app.storage.db
      .selectFrom('audit_chains')
      .select('chain_id')
      .orderBy('update_time', 'desc')
      .executeTakeFirstOrThrow()
  ).chain_id;

test('sealing signs the audit head after its own event: sys.seal cannot be cut silently', async () => {
  const first = await startTestNode();
  const admin = first.adminToken!;
  let second: TestNode | undefined;
  try {
    await call(first.url, 'POST', '/v2/projects', { token: admin, body: {} });
    assert.equal((await call(first.url, 'POST', '/v2/sys/seal', { token: admin })).status, 200);
    const chainId = await chainOf(first);
    await first.stop();
    assert.deepEqual(cutUnsignedTail(first.dataDir, chainId), [], 'nothing after the seal is unsigned');
    second = await startTestNode({ dataDir: first.dataDir });
    const verify = await call(second.url, 'GET', '/v2/sys/audit/verify', { token: admin });
    assert.equal(verify.body.valid, true, JSON.stringify(verify.body));
    const actions = await second.app.storage.db
      .selectFrom('audit_events')
      .select('action')
      .where('chain_id', '=', chainId)
      .execute();
    assert.equal(actions.at(-1)!.action, 'sys.seal');
    assert.equal(actions.filter((row) => row.action === 'sys.seal').length, 1, 'written once');
  } finally {
    await (second ?? first).destroy();
  }
});

test('events written while sealed, cut after a stop, are reported by verify after the restart', async () => {
  const first = await startTestNode();
  const admin = first.adminToken!;
  let second: TestNode | undefined;
  try {
    await call(first.url, 'POST', '/v2/projects', { token: admin, body: {} });
    assert.equal((await call(first.url, 'POST', '/v2/sys/seal', { token: admin })).status, 200);
    for (let i = 0; i < 3; i++)
      assert.equal((await call(first.url, 'GET', '/v2/projects', { token: admin })).status, 503);
    const chainId = await chainOf(first);
    await first.stop();
    assert.deepEqual(cutUnsignedTail(first.dataDir, chainId), [
      'projects.list',
      'projects.list',
      'projects.list',
    ]);
    second = await startTestNode({ dataDir: first.dataDir });
    const verify = await call(second.url, 'GET', '/v2/sys/audit/verify', { token: admin });
    assert.equal(verify.body.valid, false);
    assert.ok(
      verify.body.problems.some(
        (p: { chain?: string; kind: string }) => p.chain === chainId && p.kind === 'truncated',
      ),
      JSON.stringify(verify.body),
    );
  } finally {
    await (second ?? first).destroy();
  }
});

test('the tail a sealed stop left unsigned is signed once the next run holds the key', async () => {
  const first = await startTestNode();
  const admin = first.adminToken!;
  let second: TestNode | undefined;
  try {
    assert.equal((await call(first.url, 'POST', '/v2/sys/seal', { token: admin })).status, 200);
    assert.equal((await call(first.url, 'GET', '/v2/projects', { token: admin })).status, 503);
    const chainId = await chainOf(first);
    await first.stop();
    second = await startTestNode({ dataDir: first.dataDir });
    await call(second.url, 'GET', '/v2/projects', { token: admin });
    const closing = await second.app.storage.db
      .selectFrom('audit_checkpoints')
      .select('kind')
      .where('chain_id', '=', chainId)
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    assert.equal(closing.kind, 'closing');
    const verify = await call(second.url, 'GET', '/v2/sys/audit/verify', { token: admin });
    assert.equal(verify.body.valid, true, JSON.stringify(verify.body));
  } finally {
    await (second ?? first).destroy();
  }
});
