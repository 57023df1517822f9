import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { WriteStatement } from '../storage/storage-types.ts';
import { canonicalColumns, type ChainedEventRow, hashCanonicalValues } from './audit-chain.ts';
import type { AuditEvent } from './audit-types.ts';

/** Values per stored event: the canonical fields, then the hash. */
export const eventWidth = canonicalColumns.length;

/**
 * Rows per insert statement at most. 64 × 17 parameters stays far below both engines' limits
 * (SQLite 32,766, PostgreSQL 65,535).
 */
export const maxRowsPerStatement = 64;

/**
 * Inserts a batch's audit events as multi-row `INSERT … VALUES (…), (…)` statements instead of one
 * statement per event: a request's events (a reveal's two, a batch read's 41) and the other requests
 * of the same group commit cross to the writer thread, or to PostgreSQL, as one statement with one
 * flat parameter list. That saves, per event, a statement's hand-off (its SQL text cloned to the
 * writer thread), its prepared-statement lookup, its step and, on PostgreSQL, a round trip.
 *
 * Statements hold a power of two of rows (64, 32, … 1), so each engine prepares at most seven
 * distinct texts. The texts are compiled by Kysely once per size, on first use.
 */
export class AuditEventInsert {
  readonly #db: Kysely<Database>;
  readonly #sql = new Map<number, string>();

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * The statements inserting `values`: `eventWidth` values per event, in `canonicalColumns` order,
   * events in chain order. `values` is handed over as it is when one statement takes it all.
   */
  statements(values: unknown[]): WriteStatement[] {
    const rows = values.length / eventWidth;
    if (!Number.isInteger(rows)) throw new Error('AuditEventInsert: values are not whole events');
    const statements: WriteStatement[] = [];
    let offset = 0;
    while (offset < rows) {
      const count = chunkSize(rows - offset);
      const parameters =
        count === rows ? values : values.slice(offset * eventWidth, (offset + count) * eventWidth);
      statements.push({ sql: this.#sqlFor(count), parameters });
      offset += count;
    }
    return statements;
  }

  /** The insert of `rows` events, compiled once; checks that Kysely binds row by row, in column order. */
  #sqlFor(rows: number): string {
    const cached = this.#sql.get(rows);
    if (cached !== undefined) return cached;
    const markers = Array.from({ length: rows }, (_, row) =>
      Object.fromEntries(canonicalColumns.map((column) => [column, `\u0000${row}:${column}`])),
    ) as unknown as ChainedEventRow[];
    const compiled = this.#db.insertInto('audit_events').values(markers).compile();
    compiled.parameters.forEach((parameter, i) => {
      const expected = `\u0000${Math.floor(i / eventWidth)}:${canonicalColumns[i % eventWidth]}`;
      if (parameter !== expected) throw new Error('AuditEventInsert: unexpected parameter order');
    });
    if (compiled.parameters.length !== rows * eventWidth)
      throw new Error('AuditEventInsert: unexpected parameter count');
    this.#sql.set(rows, compiled.sql);
    return compiled.sql;
  }
}

/** The rows of the next statement: 64, or the largest power of two not above what is left. */
export function chunkSize(left: number): number {
  if (left >= maxRowsPerStatement) return maxRowsPerStatement;
  return 2 ** Math.floor(Math.log2(left));
}

/**
 * Chains `events` after position `seq` (hash `head`) of chain `chainId`, appending each one's stored
 * values to `values` (`canonicalColumns` order, the hash last) without building a row object: the
 * canonical values are hashed as they are (`hashCanonicalValues`, the same hash as `hashEvent` of the
 * row). Returns the new position and head.
 */
export function chainEvents(
  values: unknown[],
  events: readonly AuditEvent[],
  chainId: string,
  seq: number,
  head: string,
): { seq: number; head: string } {
  for (const event of events) {
    seq += 1;
    const canonical = [
      event.id,
      chainId,
      seq,
      Number(event.timeMs),
      event.requestId,
      event.action,
      event.principal,
      event.onBehalfOf ?? null,
      event.resource,
      event.projectId ?? null,
      event.result,
      Number(event.status),
      event.sourceIp ?? null,
      event.userAgent ?? null,
      event.details ? JSON.stringify(event.details) : null,
      head,
    ];
    head = hashCanonicalValues(canonical);
    for (const value of canonical) values.push(value);
    values.push(head);
  }
  return { seq, head };
}
