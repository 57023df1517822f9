import { hash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { ChainedEventRow } from './audit-chain.ts';
import { companionTerms, storedCompanions } from './audit-record.ts';
import type { AuditEvent } from './audit-types.ts';

/**
 * The check of the companions' query keys (`audit_terms`, docs/decisions/0009-audit-record.md) that
 * verification makes: every key a verified record needs is listed once, for that record, in an entry
 * whose time range holds the record's time, and nothing else is listed for a verified record. A
 * count alone would pass a key edited in place (`a:kms.decrypt` to `a:kms.decrypX`), a record id
 * swapped for another, or one listing removed and another doubled: each hides a companion from the
 * queries that should find it while the records themselves verify.
 *
 * Both sides are tallied as a count and an order-free sum of 64-bit hashes of `(project, term,
 * record)`, so no set of keys is held in memory. Only listings of records the scan verified count on
 * the stored side: records written meanwhile (after their chain was scanned) add their keys in the
 * same unit and are left out of both.
 */

const mask = (1n << 64n) - 1n;

/** A multiset of `(project, term, record)` keys as a count and a sum of hashes. */
export class TermTally {
  count = 0;
  #sum = 0n;

  add(project: string, term: string, recordId: string): void {
    this.count += 1;
    const h = hash('sha256', `${project}\u0000${term}\u0000${recordId}`, 'buffer').readBigUInt64BE(0);
    this.#sum = (this.#sum + h) & mask;
  }

  /** Whether both hold the same keys (up to a 2^-64 chance). */
  equals(other: TermTally): boolean {
    return this.count === other.count && this.#sum === other.#sum;
  }
}

/** The stored record's fields the keys of its companions derive from. */
export type TermSource = Pick<
  ChainedEventRow,
  'id' | 'project_id' | 'action' | 'principal' | 'resource' | 'companions'
>;

/**
 * The `(project, term)` keys a stored record's companions need, as `companionTerms` wrote them
 * (flat quadruples; empty for a record of one event). Throws on unreadable companions (whose
 * record's hash does not verify anyway).
 */
export function recordTerms(row: TermSource): unknown[] {
  const out: unknown[] = [];
  if (row.companions === null) return out;
  const companions = storedCompanions(row);
  if (companions.length === 0) return out;
  companionTerms(
    out,
    {
      ...(row.project_id !== null ? { projectId: row.project_id } : {}),
      action: row.action,
      principal: row.principal,
      resource: row.resource,
    },
    companions.map(
      ([, action, principal, , resource, projectId]) =>
        ({ action, principal, resource, ...(projectId !== null ? { projectId } : {}) }) as AuditEvent,
    ),
    0,
    row.id,
  );
  return out;
}

/** Adds `recordTerms` quadruples to a tally. */
export function tallyTerms(tally: TermTally, quads: readonly unknown[]): void {
  for (let i = 0; i < quads.length; i += 4)
    tally.add(quads[i] as string, quads[i + 1] as string, quads[i + 3] as string);
}

const entriesPerBatch = 2000;
const idsPerLookup = 2000;

interface Listing {
  readonly project: string;
  readonly term: string;
  readonly firstTime: number;
  readonly time: number;
  readonly id: string;
}

/**
 * Compares the keys `audit_terms` lists for verified records (`verified(chain, seq)`) with
 * `expected`; returns why they differ, or undefined when they match.
 */
export async function checkStoredTerms(
  db: Kysely<Database>,
  expected: TermTally,
  verified: (chainId: string, seq: number) => boolean,
): Promise<string | undefined> {
  const stored = new TermTally();
  let outOfRange: string | undefined;
  let after: { project: string; term: string; time: number; recordId: string } | undefined;
  for (;;) {
    let query = db
      .selectFrom('audit_terms')
      .select(['project_id', 'term', 'time', 'record_id', 'first_time', 'records'])
      .orderBy('project_id')
      .orderBy('term')
      .orderBy('time')
      .orderBy('record_id')
      .limit(entriesPerBatch);
    if (after) {
      const { project, term, time, recordId } = after;
      query = query.where(
        sql<boolean>`(project_id, term, time, record_id) > (${project}, ${term}, ${time}, ${recordId})`,
      );
    }
    const entries = await query.execute();
    if (entries.length === 0) break;
    const listings: Listing[] = [];
    for (const entry of entries) {
      let ids: unknown;
      try {
        ids = JSON.parse(entry.records);
      } catch {
        ids = undefined;
      }
      if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string'))
        return `an audit_terms entry (${entry.term.slice(0, 64)}) lists no readable records`;
      for (const id of ids as string[])
        listings.push({
          project: entry.project_id,
          term: entry.term,
          firstTime: Number(entry.first_time),
          time: Number(entry.time),
          id,
        });
    }
    const records = new Map<string, { chainId: string; seq: number; time: number }>();
    const ids = [...new Set(listings.map((l) => l.id))];
    for (let i = 0; i < ids.length; i += idsPerLookup) {
      const rows = await db
        .selectFrom('audit_events')
        .select(['id', 'chain_id', 'seq', 'time'])
        .where('id', 'in', ids.slice(i, i + idsPerLookup))
        .execute();
      for (const row of rows)
        records.set(row.id, { chainId: row.chain_id, seq: Number(row.seq), time: Number(row.time) });
    }
    for (const listing of listings) {
      const record = records.get(listing.id);
      if (record === undefined || !verified(record.chainId, record.seq)) continue;
      stored.add(listing.project, listing.term, listing.id);
      if (record.time < listing.firstTime || record.time > listing.time)
        outOfRange ??= `an audit_terms entry's time range does not hold record ${listing.id}`;
    }
    const last = entries[entries.length - 1]!;
    after = { project: last.project_id, term: last.term, time: Number(last.time), recordId: last.record_id };
  }
  if (outOfRange !== undefined) return outOfRange;
  if (!stored.equals(expected))
    return `companion events' query keys differ from their records (${expected.count} needed, ${stored.count} listed)`;
  return undefined;
}
