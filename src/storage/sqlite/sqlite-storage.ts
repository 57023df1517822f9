import { closeSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { CofferError } from '../../core/errors.ts';
import type { Database } from '../schema.ts';
import type { Storage, StorageHealth, WriteStatement } from '../storage-types.ts';
import { acquireDataDirLock, type DataDirLock } from '../data-dir-lock.ts';
import { type QueryObserver, queryLog } from '../timed-storage.ts';
import { NodeSqliteDatabase } from './node-sqlite-adapter.ts';
import { openSqliteReadConnection, openSqliteWriteConnection } from './sqlite-connection.ts';
import { errorMessage } from './sqlite-errors.ts';
import { SqliteWriter } from './sqlite-writer.ts';

/** Options of the embedded SQLite storage. */
export interface SqliteStorageOptions {
  /** The database file; its directory is the data dir, locked by `coffer.lock`. */
  readonly file: string;
  /** A write not acknowledged within this time rejects with `storage_unavailable`. */
  readonly writeTimeoutMs: number;
  /** How long a connection waits for the write lock (SQLite busy_timeout); default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /** Told about every query run through `db` (reads): duration and failure (metrics). */
  readonly onQuery?: QueryObserver;
}

/**
 * Opens the embedded storage: reads on a main-thread connection (node:sqlite is synchronous and a
 * point read costs ≈10 µs, less than a thread hop), writes on one writer thread with group commit.
 * Refuses a data dir another Coffer process uses.
 */
export async function openSqliteStorage(options: SqliteStorageOptions): Promise<Storage> {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  const lock = acquireDataDirLock(dirname(options.file));
  let writer: SqliteWriter | undefined;
  try {
    // Owner-only from the start; SQLite gives the -wal and -shm files the database file's mode.
    closeSync(openSync(options.file, 'a', 0o600));
    writer = await SqliteWriter.start({
      file: options.file,
      busyTimeoutMs,
      writeTimeoutMs: options.writeTimeoutMs,
    });
    // Opened after the writer, which created the file and switched it to WAL.
    const read = openSqliteReadConnection(options.file, { busyTimeoutMs });
    return new SqliteStorage(options.file, busyTimeoutMs, read, writer, lock, options.onQuery);
  } catch (err) {
    await writer?.close();
    lock.release();
    if (err instanceof CofferError) throw err;
    throw new CofferError(
      'storage_unavailable',
      `cannot open the SQLite database ${options.file}: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
}

class SqliteStorage implements Storage {
  readonly engine = 'sqlite';
  readonly db: Kysely<Database>;
  readonly #file: string;
  readonly #busyTimeoutMs: number;
  readonly #read: DatabaseSync;
  readonly #writer: SqliteWriter;
  readonly #lock: DataDirLock;
  // One holder at a time in this process: two BEGIN IMMEDIATE on the main thread would block its
  // event loop in SQLite's busy wait, so the first holder could never finish.
  #lockQueue: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;
  #ping: StatementSync | undefined;

  constructor(
    file: string,
    busyTimeoutMs: number,
    read: DatabaseSync,
    writer: SqliteWriter,
    lock: DataDirLock,
    onQuery?: QueryObserver,
  ) {
    this.#file = file;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#read = read;
    this.#writer = writer;
    this.#lock = lock;
    this.db = new Kysely<Database>({
      dialect: new SqliteDialect({ database: new NodeSqliteDatabase(read) }),
      ...(onQuery ? { log: queryLog(onQuery) } : {}),
    });
  }

  write(statements: readonly WriteStatement[]): Promise<unknown[][]> {
    return this.#writer.write(statements);
  }

  withLock<T>(_name: string, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    const run = this.#lockQueue.then(() => this.#runLocked(fn));
    this.#lockQueue = run.catch(() => undefined);
    return run;
  }

  /**
   * A transaction on a connection of its own, so reads on `db` never see its uncommitted work.
   * BEGIN IMMEDIATE takes SQLite's write lock up front: with the pid lock there is no other process,
   * and the writer thread waits (busy_timeout) until it commits. Never call `write()` inside `fn`.
   */
  async #runLocked<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    return this.#onOwnConnection(openSqliteWriteConnection, async (trx, connection) => {
      await sql`begin immediate`.execute(trx);
      try {
        const result = await fn(trx);
        await sql`commit`.execute(trx);
        return result;
      } catch (err) {
        if (connection.isTransaction) connection.exec('ROLLBACK');
        throw err;
      }
    });
  }

  /**
   * A read transaction on a connection of its own: in WAL mode it sees the database as of its first
   * read, whatever commits meanwhile. While it is open, checkpoints cannot pass it (the WAL grows, and
   * a shredding unit waits for it, within its write timeout).
   */
  async readSnapshot<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    return this.#onOwnConnection(openSqliteReadConnection, async (trx, connection) => {
      await sql`begin`.execute(trx);
      try {
        // The snapshot starts at the first read of the transaction: take it now.
        await sql`select count(*) from sqlite_master`.execute(trx);
        return await fn(trx);
      } finally {
        if (connection.isTransaction) connection.exec('ROLLBACK');
      }
    });
  }

  /** Runs `fn` on a connection of its own (opened by `open`), closed whatever happens. */
  async #onOwnConnection<T>(
    open: (file: string, options: { busyTimeoutMs: number }) => DatabaseSync,
    fn: (trx: Kysely<Database>, connection: DatabaseSync) => Promise<T>,
  ): Promise<T> {
    let connection: DatabaseSync;
    try {
      connection = open(this.#file, { busyTimeoutMs: this.#busyTimeoutMs });
    } catch (err) {
      throw new CofferError('storage_unavailable', `cannot open the SQLite database: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    const db = new Kysely<Database>({
      dialect: new SqliteDialect({ database: new NodeSqliteDatabase(connection) }),
    });
    try {
      return await db.connection().execute((trx) => fn(trx, connection));
    } finally {
      await db.destroy();
      if (connection.isOpen) connection.close();
    }
  }

  async ping(): Promise<void> {
    try {
      // Prepared once (health answers it on every call); a closed connection throws here too.
      this.#ping ??= this.#read.prepare('SELECT 1');
      this.#ping.get();
    } catch (err) {
      throw new CofferError(
        'storage_unavailable',
        `the SQLite database does not answer: ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }

  *iterateRows(query: { compile(): { sql: string; parameters: readonly unknown[] } }): Iterable<unknown[]> {
    const compiled = query.compile();
    const statement = this.#read.prepare(compiled.sql);
    statement.setReturnArrays(true);
    yield* statement.iterate(...(compiled.parameters as never[])) as Iterable<unknown[]>;
  }

  onLateCompletion(listener: () => void): void {
    this.#writer.onLateCommit = listener;
  }

  health(): StorageHealth {
    return this.#writer.health();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    try {
      await this.#lockQueue;
      await this.#writer.close();
      await this.db.destroy();
    } finally {
      // Kysely closes the connection only if it ever ran a query.
      if (this.#read.isOpen) this.#read.close();
      this.#lock.release();
    }
  }
}
