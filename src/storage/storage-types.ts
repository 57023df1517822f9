import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

/** The storage engines Coffer runs on. */
export type Engine = 'sqlite' | 'postgres';

/** Whether the storage can take writes now: `failing` after a write timed out or the database was unreachable, until one succeeds. */
export type StorageHealth = 'ok' | 'failing';

/** One compiled statement of a write unit (build it with Kysely and `.compile()`, see `stmt`). */
export interface WriteStatement {
  /** SQL in the engine's dialect. */
  readonly sql: string;
  /** Positional parameters: null, number, bigint, string, boolean (stored as 0/1) or Buffer/Uint8Array. */
  readonly parameters: readonly unknown[];
  /**
   * What the statement must affect, else the whole unit is rolled back and `write` rejects with
   * `WriteRejected('expectation', index)`: `one` = exactly one row, `some` = at least one row.
   */
  readonly expect?: 'one' | 'some';
  /**
   * The statement erases secret material (crypto-shredding): the unit resolves only once no file of
   * the database holds the erased bytes any more (SQLite: the WAL is checkpointed and truncated).
   * Build it with `shredding(...)`.
   */
  readonly shred?: true;
}

/** Marks a statement as erasing secret material (see `WriteStatement.shred`). */
export function shredding(statement: WriteStatement): WriteStatement {
  return { ...statement, shred: true };
}

/** A write unit that could not be applied; nothing of it was written. Repos map it to a domain error. */
export class WriteRejected extends Error {
  /** Why: a statement's expectation failed, or a unique/primary-key constraint was violated. */
  readonly reason: 'expectation' | 'unique';
  /** The index of the statement in the unit that failed. */
  readonly statementIndex: number;
  constructor(reason: 'expectation' | 'unique', statementIndex: number) {
    super(`write rejected: ${reason} at statement ${statementIndex}`);
    this.name = 'WriteRejected';
    this.reason = reason;
    this.statementIndex = statementIndex;
  }
}

/**
 * The storage contract every engine fulfils (see storage/README.md). Reads go through `db`; every
 * write goes through `write`, an atomic unit that is durable (fsynced) when the promise resolves.
 */
export interface Storage {
  /** Which engine this is. */
  readonly engine: Engine;
  /** Query builder for reads, and for compiling write statements (never execute writes with it). */
  readonly db: Kysely<Database>;
  /**
   * Applies the statements atomically and durably; resolves with the rows each one returned
   * (RETURNING). Concurrent units share a transaction and one fsync (group commit) where the engine
   * needs it. Rejects with WriteRejected (nothing written) or CofferError `storage_unavailable`
   * (database down, or no answer within the configured write timeout).
   */
  write(statements: readonly WriteStatement[]): Promise<unknown[][]>;
  /**
   * Runs `fn` in one transaction that no other node or process runs at the same time (a row lock on
   * `coffer_locks`, never an advisory lock). For migrations and initialization only: slow, not hot.
   */
  withLock<T>(name: string, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` on a consistent, read-only snapshot of the whole database while writes go on (backups):
   * SQLite, one read transaction on a connection of its own (WAL keeps its snapshot); PostgreSQL, a
   * REPEATABLE READ READ ONLY transaction. Optional so that test doubles need not implement it.
   */
  readSnapshot?<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a trivial query; rejects with `storage_unavailable`. */
  ping(): Promise<void>;
  /**
   * Cheap, synchronous view of recent writes for `GET /v2/health` (never queries the database).
   * Optional so that test doubles need not implement it; both engines do.
   */
  health?(): StorageHealth;
  /**
   * Rows of a read query as arrays, in select order, one at a time and synchronously: the fast path
   * for long scans (audit verification). Only the embedded engine offers it; callers fall back to `db`.
   */
  iterateRows?(query: { compile(): { sql: string; parameters: readonly unknown[] } }): Iterable<unknown[]>;
  /**
   * Sets the one listener told when a unit whose promise already rejected (no answer within the
   * write timeout: outcome unknown) completes after all, so that what it may have committed is not
   * hidden by caches filled in between (docs/decisions/0007-metadata-cache.md). Both engines do.
   */
  onLateCompletion?(listener: () => void): void;
  /** Waits for queued writes, then closes every connection (and the SQLite writer thread). */
  close(): Promise<void>;
}

/** Compiles a Kysely query into a write statement. */
export function stmt(
  query: { compile(): { sql: string; parameters: readonly unknown[] } },
  expect?: 'one' | 'some',
): WriteStatement {
  const compiled = query.compile();
  return expect === undefined
    ? { sql: compiled.sql, parameters: compiled.parameters }
    : { sql: compiled.sql, parameters: compiled.parameters, expect };
}

/**
 * A write statement compiled once and bound per use: `build` receives a placeholder per name and
 * returns the query; `bind(values)` then costs an array copy instead of a Kysely compile (≈10 µs for
 * a wide insert), for statements on the hottest paths (audit events, chain heads, a put's writes).
 * `expect` is given to every bound statement.
 */
export function statementTemplate<K extends string>(
  names: readonly K[],
  // Typed `never` so that a placeholder fits any column; at run time each is a unique marker string.
  build: (placeholders: Record<K, never>) => { compile(): { sql: string; parameters: readonly unknown[] } },
  expect?: 'one' | 'some',
): (values: Readonly<Record<K, unknown>>) => WriteStatement {
  const markers = Object.fromEntries(names.map((name) => [name, `\u0000${name}`])) as Record<K, string>;
  const compiled = build(markers as unknown as Record<K, never>).compile();
  const order = compiled.parameters.map((parameter) => {
    const name = names.find((n) => markers[n] === parameter);
    if (name === undefined) throw new Error(`statementTemplate: a parameter is not a placeholder`);
    return name;
  });
  const sql = compiled.sql;
  return expect === undefined
    ? (values) => ({ sql, parameters: order.map((name) => values[name]) })
    : (values) => ({ sql, parameters: order.map((name) => values[name]), expect });
}
