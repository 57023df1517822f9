import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { testOnEachStorage } from '../../test/support/each-storage.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import { createLogger } from '../core/logger.ts';
import type { Storage } from '../storage/storage-types.ts';
import { type ChainedEventRow, genesisHash, hashEvent, storedColumns } from './audit-chain.ts';
import { AuditEventInsert, chainEvents, chunkSize, eventWidth } from './audit-event-insert.ts';
import { AuditLog } from './audit-log.ts';
import type { AuditEvent } from './audit-types.ts';
import { verifyAuditChains } from './audit-verifier.ts';

const project = randomUUID();

function event(i: number, extra: Partial<AuditEvent> = {}): AuditEvent {
  const now = 1_767_225_600_000 + i;
  return {
    id: newTimeOrderedUuid(now),
    timeMs: now,
    requestId: newTimeOrderedUuid(now),
    action: i % 2 === 0 ? 'secrets.get_value' : 'kms.decrypt',
    principal: 'user:a@example.com',
    resource: `projects/${project}/regions/local/instances/main/secrets/s%2F${i}`,
    projectId: project,
    result: 'ok',
    status: 200,
    ...extra,
  };
}

/** The stored row of `values`' event `i` (as the verifier reads it back). */
function rowAt(values: readonly unknown[], i: number): ChainedEventRow {
  const slice = values.slice(i * eventWidth, (i + 1) * eventWidth);
  return Object.fromEntries(storedColumns.map((column, c) => [column, slice[c]])) as ChainedEventRow;
}

test('chainEvents hashes each event exactly as hashEvent hashes its row, chained by prev_hash', () => {
  const events = [
    event(1),
    event(2, {
      onBehalfOf: 'user:b@example.com',
      sourceIp: '10.0.0.1',
      userAgent: 'curl/8 "quoted" \u00e9',
      details: { version: 3, note: 'x', ok: true },
    }),
    event(3, { projectId: undefined, result: 'denied', status: 403 }),
  ];
  const values: unknown[] = [];
  const chain = randomUUID();
  const first = chainEvents(values, events.slice(0, 1), chain, 0, genesisHash);
  const { seq, head } = chainEvents(values, events.slice(1), chain, first.seq, first.head);
  assert.equal(seq, 3);
  assert.equal(values.length, 3 * eventWidth);
  let prev = genesisHash;
  for (let i = 0; i < 3; i++) {
    const row = rowAt(values, i);
    assert.equal(row.seq, i + 1);
    assert.equal(row.chain_id, chain);
    assert.equal(row.prev_hash, prev);
    const { hash, ...unhashed } = row;
    assert.equal(hash, hashEvent(unhashed));
    prev = hash;
  }
  assert.equal(head, prev);
  assert.equal(rowAt(values, 1).details, JSON.stringify({ version: 3, note: 'x', ok: true }));
  assert.equal(rowAt(values, 2).project_id, null);
  assert.equal(rowAt(values, 0).on_behalf_of, null);
});

test('statements hold powers of two of rows, at most 64, covering every event once in order', () => {
  assert.deepEqual([1, 2, 3, 7, 41, 63, 64, 65, 200].map(chunkSize), [1, 2, 2, 4, 32, 32, 64, 64, 64]);
  const insert = new AuditEventInsert(
    // Only compiles: a storage is not needed to build the statements.
    {
      insertInto: (table: string) => ({
        values: (rows: Record<string, unknown>[]) => ({
          compile: () => ({
            sql: `insert into ${table} rows ${rows.length}`,
            parameters: rows.flatMap((row) => storedColumns.map((column) => row[column])),
          }),
        }),
      }),
    } as never,
  );
  for (const count of [1, 2, 41, 64, 65, 130]) {
    const values = Array.from({ length: count * eventWidth }, (_, i) => i);
    const statements = insert.statements(values);
    assert.deepEqual(
      statements.flatMap((s) => s.parameters),
      values,
    );
    for (const s of statements) {
      const rows = s.parameters.length / eventWidth;
      assert.ok(rows <= 64 && Number.isInteger(Math.log2(rows)), `${rows} rows`);
      assert.equal(s.sql, `insert into audit_events rows ${rows}`);
    }
  }
  assert.throws(() => insert.statements([1, 2, 3]), /whole rows/);
});

async function appendAndVerify(storage: Storage): Promise<void> {
  const log = new AuditLog(storage, createLogger('silent'), { nowMs: () => Date.now() }, 10_000, {
    everyEvents: 1000,
    everyMs: 60_000,
  });
  // One request of 41 events (a batch read), then 64 requests of 2 in one group, then 130 at once.
  const batch = Array.from({ length: 41 }, (_, i) => event(i));
  await log.append(batch);
  await Promise.all(Array.from({ length: 64 }, (_, i) => log.append([event(100 + i), event(200 + i)])));
  await log.append(Array.from({ length: 130 }, (_, i) => event(300 + i, { details: { n: i } })));
  const head = log.durableHead();
  assert.equal(head.seq, 41 + 128 + 130);
  const rows = await storage.db
    .selectFrom('audit_events')
    .selectAll()
    .where('chain_id', '=', head.chainId)
    .orderBy('seq')
    .execute();
  assert.equal(rows.length, head.seq);
  assert.deepEqual(
    rows.slice(0, 41).map((r) => r.id),
    batch.map((e) => e.id),
  );
  assert.equal(rows.at(-1)!.details, JSON.stringify({ n: 129 }));
  const result = await verifyAuditChains(storage, undefined, { writer: head });
  assert.equal(result.valid, true, result.reason);
  assert.equal(result.checked, head.seq);
  await log.close();
}

describe('multi-row audit inserts through the real storage', () => {
  testOnEachStorage('events of one request and of a group commit are stored in order and verify', (storage) =>
    appendAndVerify(storage),
  );
});
