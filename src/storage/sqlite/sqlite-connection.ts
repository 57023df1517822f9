import { DatabaseSync } from 'node:sqlite';

/** Options shared by every SQLite connection Coffer opens. */
export interface SqliteConnectionOptions {
  /** How long a connection waits for another one's write lock before failing with SQLITE_BUSY. */
  readonly busyTimeoutMs: number;
}

/**
 * Opens a connection that writes: WAL, `synchronous=FULL` (the WAL is fsynced at every commit, so an
 * acknowledged write survives power loss), `secure_delete` (destroyed key material is overwritten,
 * not just unlinked from the b-tree) and foreign keys on.
 */
export function openSqliteWriteConnection(file: string, options: SqliteConnectionOptions): DatabaseSync {
  const db = new DatabaseSync(file, { timeout: options.busyTimeoutMs, enableForeignKeyConstraints: true });
  try {
    db.exec(
      `PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;` +
        ` PRAGMA foreign_keys = ON; PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs)};`,
    );
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Opens the connection that serves reads; `query_only` makes a write through it fail loudly instead of
 * bypassing the writer thread (and its durability and group-commit guarantees).
 */
export function openSqliteReadConnection(file: string, options: SqliteConnectionOptions): DatabaseSync {
  const db = new DatabaseSync(file, { timeout: options.busyTimeoutMs, enableForeignKeyConstraints: true });
  try {
    db.exec(`PRAGMA query_only = ON; PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs)};`);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
