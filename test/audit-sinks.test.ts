import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { call, startTestNode } from './support/test-node.ts';

async function eventIds(node: Awaited<ReturnType<typeof startTestNode>>): Promise<string[]> {
  return (await node.app.storage.db.selectFrom('audit_events').select('id').execute()).map((r) => r.id);
}

/** Every checkpoint a writer signed, as `chain:seq:kind`. */
async function checkpointKeys(node: Awaited<ReturnType<typeof startTestNode>>): Promise<string[]> {
  return (
    await node.app.storage.db
      .selectFrom('audit_checkpoints')
      .select(['chain_id', 'seq', 'kind'])
      .where('kind', '!=', 'prune')
      .execute()
  ).map((r) => `${r.chain_id}:${Number(r.seq)}:${r.kind}`);
}

interface DeliveredCheckpoint {
  chainId: string;
  seq: number;
  kind: string;
  prevCheckpoint: string;
  signature: string;
}

test('the file sink writes every event once as JSON lines and rotates by size', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-sink-'));
  const path = join(dir, 'audit.jsonl');
  const node = await startTestNode({
    env: {
      COFFER_AUDIT_SINKS: JSON.stringify([
        { name: 'local-file', type: 'file', path, maxBytes: 4096, maxFiles: 10 },
      ]),
      COFFER_AUDIT_SINK_INTERVAL_MS: '60000',
    },
  });
  try {
    for (let i = 0; i < 30; i++) await call(node.url, 'GET', '/v2/projects', { token: node.adminToken });
    await node.app.auditSinks.run();
    const files = [path, ...Array.from({ length: 9 }, (_, i) => `${path}.${i + 1}`)].filter((f) =>
      existsSync(f),
    );
    assert.ok(files.length > 1, 'rotated');
    const parsed = files
      .flatMap((f) => readFileSync(f, 'utf8').trim().split('\n'))
      .map((line) => JSON.parse(line) as { id: string; hash: string; checkpoint?: DeliveredCheckpoint });
    const delivered = parsed.filter((line) => line.checkpoint === undefined);
    const checkpoints = parsed.flatMap((line) => (line.checkpoint ? [line.checkpoint] : []));
    assert.deepEqual(
      checkpoints.map((c) => `${c.chainId}:${c.seq}:${c.kind}`).sort(),
      (await checkpointKeys(node)).sort(),
      'every signed checkpoint, once',
    );
    assert.ok(checkpoints.every((c) => c.prevCheckpoint && c.signature));
    const ids = delivered.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
    assert.deepEqual([...ids].sort(), (await eventIds(node)).sort(), 'every event');
    assert.ok(delivered.every((e) => /^[0-9a-f]{64}$/.test(e.hash)));
    await node.app.auditSinks.run();
    const again = files.flatMap((f) => (existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n') : []));
    assert.equal(again.length, parsed.length, 'a second pass delivers nothing new');
  } finally {
    await node.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the webhook sink survives an outage with backoff, loses nothing, and resumes from its cursor after a restart', async () => {
  const received: Array<{ id: string }> = [];
  const receivedCheckpoints: DeliveredCheckpoint[] = [];
  const batchIds: string[] = [];
  let failing = true;
  const siem = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      if (failing) {
        res.writeHead(503).end();
        return;
      }
      batchIds.push(String(req.headers['idempotency-key']));
      const batch = JSON.parse(body) as { events: Array<{ id: string }>; checkpoints: DeliveredCheckpoint[] };
      received.push(...batch.events);
      receivedCheckpoints.push(...batch.checkpoints);
      res.writeHead(204).end();
    });
  });
  siem.listen(0, '127.0.0.1');
  await once(siem, 'listening');
  const address = siem.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  const clock = new ManualClock(Date.UTC(2026, 8, 1));
  const env = {
    COFFER_AUDIT_SINKS: JSON.stringify([
      { name: 'siem', type: 'webhook', url: `http://127.0.0.1:${address.port}/ingest`, batchSize: 7 },
    ]),
    COFFER_AUDIT_SINK_INTERVAL_MS: '60000',
  };
  let node = await startTestNode({ env, clock }).catch((err: unknown) => {
    siem.close();
    throw err;
  });
  const dataDir = node.dataDir;
  const admin = node.adminToken!;
  try {
    for (let i = 0; i < 20; i++) {
      assert.equal(
        (await call(node.url, 'GET', '/v2/projects', { token: admin })).status,
        200,
        'requests go on while the SIEM is down',
      );
    }
    await node.app.auditSinks.run();
    const down = (await call(node.url, 'GET', '/v2/sys/audit/sinks', { token: admin })).body.items[0];
    assert.equal(down.name, 'siem');
    assert.ok(down.consecutiveFailures >= 1);
    assert.ok(down.pending >= 20);
    failing = false;
    await node.app.auditSinks.run();
    assert.equal(received.length, 0, 'still backing off');
    clock.advance(120_000);
    await node.app.auditSinks.run();
    assert.deepEqual(received.map((e) => e.id).sort(), (await eventIds(node)).sort());
    assert.ok(
      batchIds.every((id) => /^[0-9a-f-]{36}:(checkpoints:)?\d+-\d+$/.test(id)),
      batchIds.join(),
    );
    const up = (await call(node.url, 'GET', '/v2/sys/audit/sinks', { token: admin })).body.items[0];
    assert.equal(up.consecutiveFailures, 0);
    assert.ok(up.lastDelayMs !== null);

    await node.stop();
    node = await startTestNode({ env, clock, dataDir });
    await call(node.url, 'GET', '/v2/projects', { token: admin });
    await node.app.auditSinks.run();
    const ids = received.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'nothing delivered twice across the restart');
    assert.deepEqual([...ids].sort(), (await eventIds(node)).sort(), 'nothing lost across the restart');
    const signedHeads = receivedCheckpoints.map((c) => `${c.chainId}:${c.seq}:${c.kind}`);
    assert.equal(new Set(signedHeads).size, signedHeads.length, 'no checkpoint delivered twice');
    assert.ok(
      signedHeads.some((key) => key.endsWith(':closing')),
      "the first run's closing checkpoint",
    );
    const stored = await checkpointKeys(node);
    // The second run's checkpoints cover events delivered in its only pass; its closing one comes later.
    assert.deepEqual(signedHeads.sort(), stored.sort(), 'every signed checkpoint reached the SIEM');
  } finally {
    await node.destroy();
    siem.close();
  }
});
