import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';
import { bindableParameters, plainRow } from '../storage-fns.ts';

/** How many prepared statements a connection keeps; Coffer's queries are a few hundred distinct texts. */
const defaultCacheSize = 500;

/**
 * Adapts a node:sqlite `DatabaseSync` to the better-sqlite3-shaped interface Kysely's SqliteDialect
 * expects, caching prepared statements by SQL text (preparing costs about as much as a point read).
 */
export class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, CachedStatement>();
  readonly #cacheSize: number;

  constructor(db: DatabaseSync, options?: { cacheSize?: number }) {
    this.#db = db;
    this.#cacheSize = options?.cacheSize ?? defaultCacheSize;
  }

  /** Closes the underlying connection (Kysely calls it from `destroy()`). */
  close(): void {
    this.#cache.clear();
    if (this.#db.isOpen) this.#db.close();
  }

  /** A statement for `sql`, from the cache when it was prepared before. */
  prepare(sql: string): SqliteStatement {
    const cached = this.#cache.get(sql);
    if (cached !== undefined) {
      // Re-insert so that the Map's insertion order is least-recently-used first.
      this.#cache.delete(sql);
      this.#cache.set(sql, cached);
      return cached;
    }
    const statement = new CachedStatement(this.#db, sql);
    this.#cache.set(sql, statement);
    if (this.#cache.size > this.#cacheSize) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    return statement;
  }

  /** Number of statements currently cached (for tests). */
  get cachedStatements(): number {
    return this.#cache.size;
  }
}

/** One prepared statement; node:sqlite takes spread parameters where Kysely passes an array. */
class CachedStatement implements SqliteStatement {
  readonly reader: boolean;
  readonly #db: DatabaseSync;
  readonly #sql: string;
  readonly #statement: StatementSync;

  constructor(db: DatabaseSync, sql: string) {
    this.#db = db;
    this.#sql = sql;
    this.#statement = db.prepare(sql);
    // A statement that yields columns (SELECT, or a write with RETURNING) is read with all().
    this.reader = this.#statement.columns().length > 0;
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#statement.all(...toSqlite(parameters)).map(plainRow);
  }

  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    return this.#statement.run(...toSqlite(parameters));
  }

  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    // A fresh statement: an iterator must not be reset by another query reusing the cached one.
    return iterateRows(this.#db.prepare(this.#sql).iterate(...toSqlite(parameters)));
  }
}

function* iterateRows(rows: Iterator<unknown>): IterableIterator<unknown> {
  for (let next = rows.next(); next.done !== true; next = rows.next()) yield plainRow(next.value);
}

/** Kysely's parameters as node:sqlite input values (the driver checks the types at bind time). */
export function toSqlite(parameters: ReadonlyArray<unknown>): SQLInputValue[] {
  return bindableParameters(parameters) as SQLInputValue[];
}
