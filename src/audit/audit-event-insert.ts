import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { WriteStatement } from '../storage/storage-types.ts';
import { type ChainedEventRow, hashCanonicalValues, storedColumns } from './audit-chain.ts';
import { companionsText, companionTerms, termEntries } from './audit-record.ts';
import type { AuditEvent } from './audit-types.ts';

/** Values per stored record: the canonical fields, the hash, then the companions (or null). */
export const eventWidth = storedColumns.length;

/** The columns of a companions' query key entry (`audit_terms`), in the order `termEntries` gives them. */
const termColumns = ['project_id', 'term', 'time', 'record_id', 'first_time', 'records'] as const;

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
  readonly #sql = new Map<string, string>();

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * The statements inserting `values`: `eventWidth` values per record, in `storedColumns` order,
   * records in chain order. `values` is handed over as it is when one statement takes it all.
   */
  statements(values: unknown[]): WriteStatement[] {
    return this.#inserts('audit_events', storedColumns, values);
  }

  /** The statements inserting the companions' query keys (`chainEvents`' `terms`), one entry per key. */
  termStatements(terms: unknown[]): WriteStatement[] {
    return this.#inserts('audit_terms', termColumns, termEntries(terms));
  }

  #inserts(
    table: 'audit_events' | 'audit_terms',
    columns: readonly string[],
    values: unknown[],
  ): WriteStatement[] {
    const width = columns.length;
    const rows = values.length / width;
    if (!Number.isInteger(rows)) throw new Error('AuditEventInsert: values are not whole rows');
    const statements: WriteStatement[] = [];
    let offset = 0;
    while (offset < rows) {
      const count = chunkSize(rows - offset);
      const parameters = count === rows ? values : values.slice(offset * width, (offset + count) * width);
      statements.push({ sql: this.#sqlFor(table, columns, count), parameters });
      offset += count;
    }
    return statements;
  }

  /** The insert of `rows` rows, compiled once; checks that Kysely binds row by row, in column order. */
  #sqlFor(table: 'audit_events' | 'audit_terms', columns: readonly string[], rows: number): string {
    const key = `${table}:${rows}`;
    const cached = this.#sql.get(key);
    if (cached !== undefined) return cached;
    const width = columns.length;
    const markers = Array.from({ length: rows }, (_, row) =>
      Object.fromEntries(columns.map((column) => [column, `\u0000${row}:${column}`])),
    ) as unknown as ChainedEventRow[];
    const compiled = this.#db
      .insertInto(table as 'audit_events')
      .values(markers)
      .compile();
    compiled.parameters.forEach((parameter, i) => {
      const expected = `\u0000${Math.floor(i / width)}:${columns[i % width]}`;
      if (parameter !== expected) throw new Error('AuditEventInsert: unexpected parameter order');
    });
    if (compiled.parameters.length !== rows * width)
      throw new Error('AuditEventInsert: unexpected parameter count');
    this.#sql.set(key, compiled.sql);
    return compiled.sql;
  }
}

/** The rows of the next statement: 64, or the largest power of two not above what is left. */
export function chunkSize(left: number): number {
  if (left >= maxRowsPerStatement) return maxRowsPerStatement;
  return 2 ** Math.floor(Math.log2(left));
}

/**
 * Chains `events` after position `seq` (hash `head`) of chain `chainId`, appending each record's
 * stored values to `values` (`storedColumns` order: the canonical fields, the hash, the companions)
 * without building a row object: the canonical values are hashed as they are (`hashCanonicalValues`,
 * the same hash as `hashEvent` of the row). As one record (`record`: a request's events), the first
 * event takes the chain position and the others ride in its `companions`, their query keys appended
 * to `terms` (`project, term, time, record` each); otherwise each event is a record of its own. Returns the new
 * position and head.
 */
export function chainEvents(
  values: unknown[],
  events: readonly AuditEvent[],
  chainId: string,
  seq: number,
  head: string,
  record = false,
  terms?: unknown[],
): { seq: number; head: string } {
  const records = record ? Math.min(events.length, 1) : events.length;
  for (let i = 0; i < records; i++) {
    const event = events[i]!;
    const companions = record && events.length > 1 ? events.slice(1) : undefined;
    seq += 1;
    const time = Number(event.timeMs);
    const canonical: unknown[] = [
      event.id,
      chainId,
      seq,
      time,
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
    const text = companions ? companionsText(companions) : null;
    if (text !== null) canonical.push(text);
    head = hashCanonicalValues(canonical);
    for (let c = 0; c < 16; c++) values.push(canonical[c]);
    values.push(head, text);
    if (companions && terms) companionTerms(terms, event, companions, time, event.id);
  }
  return { seq, head };
}
