import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { call, startTestNode } from './support/test-node.ts';

test('retention prunes old events up to a signed checkpoint and the rest of the chain still verifies', async () => {
  const clock = new ManualClock(Date.UTC(2026, 9, 1));
  const node = await startTestNode({
    clock,
    env: {
      COFFER_AUDIT_RETENTION_DAYS: '30',
      COFFER_AUDIT_CHECKPOINT_EVENTS: '5',
      COFFER_BACKGROUND_INTERVAL_MS: '3600000',
    },
  });
  const admin = node.adminToken!;
  try {
    for (let i = 0; i < 12; i++) await call(node.url, 'GET', '/v2/projects', { token: admin });
    const before = await node.app.storage.db.selectFrom('audit_events').select('id').execute();
    clock.advance(31 * 86_400_000);
    for (let i = 0; i < 7; i++) await call(node.url, 'GET', '/v2/projects', { token: admin });
    await node.app.runBackgroundJobs();
    const after = await node.app.storage.db
      .selectFrom('audit_events')
      .select(['id', 'seq'])
      .orderBy('seq')
      .execute();
    assert.ok(after.length < before.length + 7, 'old events were removed');
    assert.ok(Number(after[0]!.seq) > 1);
    const verified = await call(node.url, 'GET', '/v2/sys/audit/verify', { token: admin });
    assert.equal(verified.body.valid, true, JSON.stringify(verified.body));

    // A deletion that retention did not make is still found.
    const db = new DatabaseSync(join(node.dataDir, 'coffer.db'));
    db.exec(`PRAGMA busy_timeout = 5000; DELETE FROM audit_events WHERE id = '${after[0]!.id}'`);
    db.close();
    const broken = await call(node.url, 'GET', '/v2/sys/audit/verify', { token: admin });
    assert.equal(broken.body.valid, false);
  } finally {
    await node.destroy();
  }
});

test('retention across restarts keeps the chain of checkpoints whole: a chain pruned away still anchors the next one', async () => {
  const clock = new ManualClock(Date.UTC(2026, 9, 1));
  const env = {
    COFFER_AUDIT_RETENTION_DAYS: '30',
    COFFER_AUDIT_CHECKPOINT_EVENTS: '5',
    COFFER_BACKGROUND_INTERVAL_MS: '3600000',
  };
  const first = await startTestNode({ clock, env });
  const admin = first.adminToken!;
  for (let i = 0; i < 12; i++) await call(first.url, 'GET', '/v2/projects', { token: admin });
  await first.stop();
  clock.advance(31 * 86_400_000);
  const node = await startTestNode({ clock, env, dataDir: first.dataDir });
  try {
    for (let i = 0; i < 12; i++) await call(node.url, 'GET', '/v2/projects', { token: admin });
    await node.app.runBackgroundJobs();
    const chains = await node.app.storage.db
      .selectFrom('audit_events')
      .select('chain_id')
      .distinct()
      .execute();
    assert.equal(chains.length, 1, "the first run's chain was pruned away");
    const verified = await call(node.url, 'GET', '/v2/sys/audit/verify', { token: admin });
    assert.equal(verified.body.valid, true, JSON.stringify(verified.body));
  } finally {
    await node.destroy();
  }
});
