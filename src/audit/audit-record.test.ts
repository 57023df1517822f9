import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'node:test';
import { testOnEachStorage } from '../../test/support/each-storage.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import { createLogger } from '../core/logger.ts';
import { stmt, type Storage } from '../storage/storage-types.ts';
import { AuditLog } from './audit-log.ts';
import { type AuditQuery, queryAuditEvents } from './audit-query.ts';
import { pruneAuditEvents } from './audit-retention.ts';
import { AuditSinkRunner } from './audit-sinks.ts';
import type { AuditEvent } from './audit-types.ts';
import { verifyAuditChains } from './audit-verifier.ts';

const logger = createLogger('silent');
const clock = { nowMs: () => Date.now() };

/** A reveal's record: secrets.get_value, and the kms.decrypt of a key in another project. */
function reveal(home: string, keys: string, n: number): AuditEvent[] {
  const now = Date.now();
  const requestId = newTimeOrderedUuid(now);
  return [
    {
      id: newTimeOrderedUuid(now),
      timeMs: now,
      requestId,
      action: 'secrets.get_value',
      principal: 'user:a@example.com',
      resource: `projects/${home}/regions/local/instances/i/secrets/app%2Fs${n}`,
      projectId: home,
      result: 'ok',
      status: 200,
      sourceIp: '10.0.0.9',
      userAgent: 'test',
      details: { version: 1 },
    },
    {
      id: newTimeOrderedUuid(now),
      timeMs: now - 3,
      requestId,
      action: 'kms.decrypt',
      principal: 'serviceAccount:sa@example.com',
      onBehalfOf: 'user:a@example.com',
      resource: `projects/${keys}/regions/local/keyrings/r/keys/k${n % 2}`,
      projectId: keys,
      result: n === 3 ? 'error' : 'ok',
      status: 200,
      details: { keyVersion: 1, secret: `s${n}` },
    },
  ];
}

async function ids(storage: Storage, query: AuditQuery, pageSize = 2): Promise<string[]> {
  const out: string[] = [];
  let pageToken: string | undefined;
  do {
    const page = await queryAuditEvents(storage.db, {
      ...query,
      pageSize,
      ...(pageToken ? { pageToken } : {}),
    });
    out.push(...page.items.map((e) => e.id));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

async function recordsAreEvents(storage: Storage, dir: string): Promise<void> {
  const home = randomUUID();
  const keys = randomUUID();
  const log = new AuditLog(storage, logger, clock, 10_000, { everyEvents: 1000, everyMs: 60_000 });
  const requests = Array.from({ length: 6 }, (_, n) => reveal(home, keys, n));
  // Three in one group commit (one query-key entry each), then three commits of their own.
  await Promise.all(requests.slice(0, 3).map((events) => log.appendRecord(events)));
  for (const events of requests.slice(3)) await log.appendRecord(events);
  const head = log.durableHead();
  assert.equal(head.seq, 6, 'one chain element per request');
  const stored = await storage.db
    .selectFrom('audit_events')
    .select('id')
    .where('chain_id', '=', head.chainId)
    .execute();
  assert.equal(stored.length, 6, 'one stored row per request');

  const decrypts = requests.map((r) => r[1]!);
  // Newest first by their record (its time, then its id): a request's events sit together.
  const recordOf = (event: AuditEvent) => requests.find((r) => r.includes(event))![0]!;
  const newest = (events: AuditEvent[]) =>
    [...events]
      .sort((a, b) => {
        const [ra, rb] = [recordOf(a), recordOf(b)];
        return rb.timeMs - ra.timeMs || (ra.id < rb.id ? 1 : -1);
      })
      .map((e) => e.id);
  // Every filter finds the companions, paged two at a time, newest first.
  assert.deepEqual(await ids(storage, { projectId: keys, action: 'kms.decrypt' }), newest(decrypts));
  assert.deepEqual(
    await ids(storage, { projectId: keys, principal: 'serviceAccount:sa@example.com' }),
    newest(decrypts),
  );
  assert.deepEqual(
    await ids(storage, { projectId: keys, resource: `projects/${keys}/regions/local/keyrings/r/keys/k1` }),
    newest(decrypts.filter((_, n) => n % 2 === 1)),
  );
  assert.deepEqual(
    await ids(storage, { projectId: keys, resource: `projects/${keys}/regions/local/keyrings/r/` }),
    newest(decrypts),
  );
  assert.deepEqual(await ids(storage, { projectId: keys }), newest(decrypts));
  assert.deepEqual(await ids(storage, { projectId: keys, result: 'error' }), [decrypts[3]!.id]);
  assert.deepEqual(await ids(storage, { projectId: home }), newest(requests.map((r) => r[0]!)));
  assert.deepEqual(await ids(storage, { projectId: home, action: 'kms.decrypt' }), []);
  // A companion of the record's own project that fails where its record's event passes.
  const local = reveal(home, home, 9).map((e, i) =>
    i === 1 ? { ...e, result: 'error' as const, status: 500 } : e,
  );
  await log.appendRecord(local);
  assert.deepEqual(await ids(storage, { projectId: home, result: 'error' }), [local[1]!.id]);
  // A page may end inside a record: the next page goes on with its next event.
  const all = await ids(storage, { projectId: home }, 1);
  assert.equal(all.length, 8);
  assert.equal(new Set(all).size, 8);
  assert.deepEqual(all.slice(all.indexOf(local[0]!.id), all.indexOf(local[0]!.id) + 2), [
    local[0]!.id,
    local[1]!.id,
  ]);
  assert.deepEqual(await ids(storage, { projectId: home, action: 'kms.decrypt' }), [local[1]!.id]);
  assert.deepEqual(
    await ids(storage, { projectId: home, principal: 'user:a@example.com', result: 'error' }),
    [],
  );
  const request = requests[2]!;
  assert.deepEqual(await ids(storage, { projectId: keys, requestId: request[0]!.requestId }), [
    request[1]!.id,
  ]);
  const time = requests[0]![0]!.timeMs;
  assert.ok((await ids(storage, { projectId: keys, sinceMs: time, untilMs: Date.now() + 1 })).length === 6);
  // A companion is shown as an event of its own, with the record's time, request and address.
  const page = await queryAuditEvents(storage.db, { projectId: keys, requestId: request[0]!.requestId });
  assert.deepEqual(page.items[0], {
    ...request[1]!,
    timeMs: request[0]!.timeMs,
    sourceIp: '10.0.0.9',
    userAgent: 'test',
  });

  // Sinks receive each companion as its own event, naming its record.
  const sinkFile = join(dir, 'sink.jsonl');
  const sinks = new AuditSinkRunner(
    storage,
    [{ name: `f-${randomUUID()}`, type: 'file', path: sinkFile, maxBytes: 10_000_000, maxFiles: 2 }],
    clock,
    logger,
  );
  await sinks.run();
  await sinks.stop();
  const lines = readFileSync(sinkFile, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.chainId === head.chainId);
  assert.equal(lines.length, 14);
  const sunk = lines.find((line) => line.id === request[1]!.id)!;
  assert.equal(sunk.action, 'kms.decrypt');
  assert.equal(sunk.recordId, request[0]!.id);
  assert.equal(sunk.seq, lines.find((line) => line.id === request[0]!.id)!.seq);

  let result = await verifyAuditChains(storage, undefined, { writer: log.durableHead() });
  assert.equal(result.valid, true, result.reason);
  assert.equal(result.checked, 14);

  // Tampering with a companion is found.
  const row = await storage.db
    .selectFrom('audit_events')
    .select(['id', 'companions', 'seq'])
    .where('id', '=', request[0]!.id)
    .executeTakeFirstOrThrow();
  const forged = row.companions!.replace('"ok"', '"denied"');
  assert.notEqual(forged, row.companions);
  const set = (companions: string | null) =>
    storage.write([
      stmt(storage.db.updateTable('audit_events').set({ companions }).where('id', '=', row.id)),
    ]);
  await set(forged);
  result = await verifyAuditChains(storage, undefined, { writer: log.durableHead() });
  assert.equal(result.valid, false);
  assert.deepEqual(result.problems[0], { chain: head.chainId, kind: 'altered', seq: Number(row.seq) });
  // So is a companion removed altogether.
  await set(null);
  result = await verifyAuditChains(storage, undefined, { writer: log.durableHead() });
  assert.equal(result.valid, false);
  assert.equal(result.problems[0]?.kind, 'altered');
  await set(row.companions);
  assert.equal((await verifyAuditChains(storage, undefined, { writer: log.durableHead() })).valid, true);
  // And a companion hidden from queries (its query keys deleted).
  const keyRows = await storage.db
    .selectFrom('audit_terms')
    .selectAll()
    .where('project_id', '=', keys)
    .execute();
  await storage.write([stmt(storage.db.deleteFrom('audit_terms').where('project_id', '=', keys))]);
  result = await verifyAuditChains(storage, undefined, { writer: log.durableHead() });
  assert.equal(result.valid, false);
  assert.equal(result.problems[0]?.kind, 'terms_missing');
  await storage.write([stmt(storage.db.insertInto('audit_terms').values(keyRows))]);
  assert.equal((await verifyAuditChains(storage, undefined, { writer: log.durableHead() })).valid, true);
  await log.close();
}

/** Retention removes records up to a signed checkpoint with their query keys; the rest verifies. */
async function retentionTakesTheKeys(storage: Storage): Promise<void> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const project = randomUUID();
  // Every group commit is signed: each is a possible prune anchor.
  const log = new AuditLog(storage, logger, clock, 10_000, { everyEvents: 1, everyMs: 60_000 });
  log.setSigningKey(privateKey);
  const older = [reveal(randomUUID(), project, 0), reveal(randomUUID(), project, 1)];
  for (const events of older) await log.appendRecord(events);
  const cutoff = Date.now() + 1;
  await new Promise((resolve) => setTimeout(resolve, 5));
  const newer = reveal(randomUUID(), project, 2);
  await log.appendRecord(newer);
  // The records listed in the project's entries (each record is under four keys there).
  const listed = async () => {
    const rows = await storage.db
      .selectFrom('audit_terms')
      .select('records')
      .where('project_id', '=', project)
      .execute();
    return [...new Set(rows.flatMap((row) => JSON.parse(row.records) as string[]))].sort();
  };
  assert.deepEqual(await listed(), [...older, newer].map((r) => r[0]!.id).sort());
  const removed = await pruneAuditEvents(storage, log.signCheckpoint.bind(log), cutoff, Date.now());
  assert.equal(removed, 2);
  assert.deepEqual(await listed(), [newer[0]!.id]);
  assert.deepEqual(await ids(storage, { projectId: project, action: 'kms.decrypt' }), [newer[1]!.id]);
  const result = await verifyAuditChains(storage, publicKey, { writer: log.durableHead() });
  assert.equal(result.valid, true, result.reason);
  await log.close();
}

describe('one audit record per request, its events still separate', () => {
  testOnEachStorage('found by every filter, sunk as events, tampering detected', (storage, dir) =>
    recordsAreEvents(storage, dir),
  );
  testOnEachStorage('retention removes records with their query keys', (storage) =>
    retentionTakesTheKeys(storage),
  );
});
