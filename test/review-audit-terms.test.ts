import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe } from 'node:test';
import { testOnEachStorage } from './support/each-storage.ts';
import { sql } from 'kysely';
import { AuditLog } from '../src/audit/audit-log.ts';
import { queryAuditEvents } from '../src/audit/audit-query.ts';
import type { AuditEvent } from '../src/audit/audit-types.ts';
import { verifyAuditChains } from '../src/audit/audit-verifier.ts';
import { newTimeOrderedUuid } from '../src/core/ids.ts';
import { createLogger } from '../src/core/logger.ts';
import { stmt, type Storage } from '../src/storage/storage-types.ts';

// Security review (ADR 0009): verification must notice when a companion event is hidden from the
// queries that should find it. It counted the companions' query keys only, so a key whose text was
// edited (the count unchanged) hid the companion from a query by its action while verify stayed valid.

function revealRecord(home: string, keys: string): AuditEvent[] {
  const now = Date.now();
  const requestId = newTimeOrderedUuid(now);
  return [
    {
      id: newTimeOrderedUuid(now),
      timeMs: now,
      requestId,
      action: 'secrets.get_value',
      principal: 'user:a@example.com',
      resource: `projects/${home}/regions/local/instances/i/secrets/s`,
      projectId: home,
      result: 'ok',
      status: 200,
    },
    {
      id: newTimeOrderedUuid(now),
      timeMs: now,
      requestId,
      action: 'kms.decrypt',
      principal: 'serviceAccount:sa@example.com',
      resource: `projects/${keys}/regions/local/keyrings/r/keys/k`,
      projectId: keys,
      result: 'ok',
      status: 200,
    },
  ];
}

async function editedTermIsCaught(storage: Storage): Promise<void> {
  const logger = createLogger('silent');
  const log = new AuditLog(storage, logger, { nowMs: () => Date.now() }, 10_000, {
    everyEvents: 1000,
    everyMs: 60_000,
  });
  const home = randomUUID();
  const keys = randomUUID();
  const record = revealRecord(home, keys);
  await log.appendRecord(record);
  const head = log.durableHead();
  const decrypts = async () =>
    (await queryAuditEvents(storage.db, { projectId: keys, action: 'kms.decrypt' })).items.map((e) => e.id);
  assert.deepEqual(await decrypts(), [record[1]!.id]);
  assert.equal((await verifyAuditChains(storage, undefined, { writer: head })).valid, true);
  // One byte of the companion's action key edited: as many entries as before.
  await storage.write([
    stmt(
      storage.db
        .updateTable('audit_terms')
        .set({ term: sql<string>`replace(term, 'a:kms.decrypt', 'a:kms.decrypX')` })
        .where('project_id', '=', keys)
        .where('term', '=', 'a:kms.decrypt'),
    ),
  ]);
  assert.deepEqual(await decrypts(), [], 'the companion is hidden from a query by its action');
  const result = await verifyAuditChains(storage, undefined, { writer: head });
  assert.equal(result.valid, false, 'verify must report the hidden companion');
  assert.equal(result.problems[0]?.kind, 'terms_missing');
  const terms = storage.db.updateTable('audit_terms').where('project_id', '=', keys);
  await storage.write([stmt(terms.set({ term: 'a:kms.decrypt' }).where('term', '=', 'a:kms.decrypX'))]);
  assert.equal((await verifyAuditChains(storage, undefined, { writer: head })).valid, true);

  // The listing moved to another record (a record of one event, so the count stays the same).
  const other = revealRecord(home, keys).slice(0, 1);
  await log.appendRecord(other);
  const head2 = log.durableHead();
  await storage.write([
    stmt(terms.set({ records: JSON.stringify([other[0]!.id]) }).where('term', '=', 'a:kms.decrypt')),
  ]);
  assert.deepEqual(await decrypts(), []);
  assert.equal((await verifyAuditChains(storage, undefined, { writer: head2 })).valid, false);
  await storage.write([
    stmt(terms.set({ records: JSON.stringify([record[0]!.id]) }).where('term', '=', 'a:kms.decrypt')),
  ]);
  assert.equal((await verifyAuditChains(storage, undefined, { writer: head2 })).valid, true);

  // The entry's time range moved off its record (a query by time misses it).
  const time = record[0]!.timeMs;
  await storage.write([
    stmt(terms.set({ time: time - 60_000, first_time: time - 60_000 }).where('term', '=', 'a:kms.decrypt')),
  ]);
  const result2 = await verifyAuditChains(storage, undefined, { writer: head2 });
  await log.close();
  assert.equal(result2.valid, false, 'a moved time range is reported');
}

describe('review: a companion hidden by an edited audit_terms key is reported by verify', () => {
  testOnEachStorage('an edited key is caught', (storage) => editedTermIsCaught(storage));
});
