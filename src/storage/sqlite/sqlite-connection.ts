import { DatabaseSync } from 'node:sqlite';

/** Options shared by every SQLite connection Coffer opens. */
export interface SqliteConnectionOptions {
  /** How long a connection waits for another one's write lock before failing with SQLITE_BUSY. */
  readonly busyTimeoutMs: number;
}

/**
 * WAL pages after which a commit copies the WAL back into the database (SQLite's default is 1,000).
 * A page written many times between two checkpoints is copied once, so a longer interval saves
 * writes where commits keep dirtying the same pages (the tails of the audit indexes): ≈40 MB of WAL.
 */
const walAutocheckpointPages = 10_000;

/**
 * Opens a connection that writes: WAL, `synchronous=FULL` (the WAL is fsynced at every commit, so an
 * acknowledged write survives power loss), `secure_delete` (destroyed key material is overwritten,
 * not just unlinked from the b-tree) and foreign keys on. `temp_store=MEMORY` keeps the statement
 * journal of each unit's SAVEPOINT in memory: on a file it cost two writes per page a unit touched
 * (≈14 µs per audit row). It only serves rollbacks within a transaction; durability is the WAL's.
 */
export function openSqliteWriteConnection(file: string, options: SqliteConnectionOptions): DatabaseSync {
  const db = new DatabaseSync(file, { timeout: options.busyTimeoutMs, enableForeignKeyConstraints: true });
  try {
    db.exec(
      `PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;` +
        ` PRAGMA foreign_keys = ON; PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs)};` +
        ` PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = ${walAutocheckpointPages};`,
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
