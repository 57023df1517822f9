import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { CofferError } from '../../core/errors.ts';
import type { DataDirLock } from '../data-dir-lock.ts';
import type { Database } from '../schema.ts';
import { bindableParameters, expectationMet } from '../storage-fns.ts';
import { type Storage, type StorageHealth, WriteRejected, type WriteStatement } from '../storage-types.ts';
import { describePostgresTarget, isConnectionFailure, toStorageError } from './postgres-errors.ts';
import { kyselyPool } from './postgres-kysely-pool.ts';
import { type QueryObserver, queryLog } from '../timed-storage.ts';

/** Options of the PostgreSQL storage. */
export interface PostgresStorageOptions {
  /** `postgres://user:password@host:port/database`; the password never appears in errors. */
  readonly url: string;
  /** A write not committed within this time rejects with `storage_unavailable` (also bounds connecting). */
  readonly writeTimeoutMs: number;
  /** Connections in the pool; default 10. */
  readonly poolSize?: number;
  /** Told about errors of idle connections (e.g. the server restarted); the message is safe to log. */
  readonly onBackgroundError?: (message: string) => void;
  /** The node's data dir lock, released once the storage is closed (SQLite takes its own). */
  readonly dataDirLock?: DataDirLock;
  /** Told about every query run through `db` (reads): duration and failure (metrics). */
  readonly onQuery?: QueryObserver;
  /** `application_name` of every connection (default `coffer`); a node's marks it (cluster-view.ts). */
  readonly applicationName?: string;
}

/** int8 (OID 20) as a JS number: times are milliseconds and counts are small, far below 2^53. */
const int8Oid = 20;
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === int8Oid && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** SQLSTATE of a unique or primary-key violation. */
const uniqueViolation = '23505';

/**
 * Opens the cluster storage on PostgreSQL and checks that it answers. Durability and group commit are
 * PostgreSQL's own (each COMMIT waits for its WAL flush, and concurrent commits share one flush).
 */
export async function openPostgresStorage(options: PostgresStorageOptions): Promise<Storage> {
  const storage = new PostgresStorage(options);
  try {
    await storage.ping();
  } catch (err) {
    await storage.close().catch(() => undefined);
    throw err;
  }
  return storage;
}

class PostgresStorage implements Storage {
  readonly engine = 'postgres';
  readonly db: Kysely<Database>;
  readonly #pool: pg.Pool;
  readonly #target: string;
  readonly #secrets: string[];
  readonly #writeTimeoutMs: number;
  readonly #inFlight = new Set<Promise<unknown>>();
  #locksTable: Promise<void> | undefined;
  /** The server could not be reached (a ping or a write said so); a ping that answers clears it. */
  #failing = false;
  /**
   * The last write failed for a reason of the database's (full disk, no connection, timeout): only a
   * write that commits clears it, since a server that answers `SELECT 1` may still refuse writes.
   */
  #writesFailing = false;
  #closing: Promise<void> | undefined;
  /** Told when a unit already rejected by its deadline completes after all (Storage.onLateCompletion). */
  #onLate: (() => void) | undefined;
  readonly #dataDirLock: DataDirLock | undefined;

  constructor(options: PostgresStorageOptions) {
    this.#dataDirLock = options.dataDirLock;
    this.#target = describePostgresTarget(options.url);
    this.#secrets = secretsOf(options.url);
    this.#writeTimeoutMs = options.writeTimeoutMs;
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.writeTimeoutMs,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: options.applicationName ?? 'coffer',
      types,
    });
    const background = (err: Error) => {
      // Without a listener, an idle connection's error would crash the process; the pool drops the
      // connection and opens a new one on the next checkout.
      const mapped = this.#mapError(err);
      options.onBackgroundError?.(mapped instanceof Error ? mapped.message : String(mapped));
    };
    this.#pool.on('error', background);
    // A checked-out client has no pool listener: without this one its error would crash the process.
    // Its failure already surfaces in the query that uses it, so nothing more to report here.
    this.#pool.on('connect', (client) => client.on('error', () => undefined));
    this.db = new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: kyselyPool(
          this.#pool,
          (err) => this.#mapError(err),
          options.onQuery && ((seconds) => options.onQuery!(seconds, true)),
        ),
      }),
      ...(options.onQuery ? { log: queryLog(options.onQuery) } : {}),
    });
  }

  write(statements: readonly WriteStatement[]): Promise<unknown[][]> {
    if (this.#closing !== undefined) {
      return Promise.reject(new CofferError('storage_unavailable', 'storage is closed.'));
    }
    if (statements.length === 0) return Promise.resolve([]);
    const done = this.#writeWithDeadline(statements);
    this.#inFlight.add(done);
    const forget = () => this.#inFlight.delete(done);
    done.then(forget, forget);
    return done;
  }

  async #writeWithDeadline(statements: readonly WriteStatement[]): Promise<unknown[][]> {
    const unit = new UnitConnection();
    let timer: NodeJS.Timeout | undefined;
    let late = false;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        late = true;
        // Closing the connection aborts the transaction unless COMMIT was already sent.
        unit.abandon(new Error('write timed out'));
        reject(
          new CofferError(
            'storage_unavailable',
            `PostgreSQL at ${this.#target} did not acknowledge the write within ${this.#writeTimeoutMs} ms; ` +
              'it may or may not be applied.',
          ),
        );
      }, this.#writeTimeoutMs);
    });
    try {
      const applying = this.#applyUnit(unit, statements);
      // Past the deadline COMMIT may have been sent: however the unit ends, say it may have committed.
      const settled = () => void (late && this.#onLate?.());
      applying.then(settled, settled);
      const rows = await Promise.race([applying, deadline]);
      this.#failing = false;
      this.#writesFailing = false;
      return rows;
    } catch (err) {
      if (isConnectionFailure(err)) {
        this.#failing = true;
        this.#writesFailing = true;
      } else if (late) {
        // Not acknowledged in time (a database that is cut off may hang rather than refuse): the
        // writes are failing too, until one commits.
        this.#writesFailing = true;
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async #applyUnit(unit: UnitConnection, statements: readonly WriteStatement[]): Promise<unknown[][]> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw this.#mapError(err);
    }
    if (!unit.take(client)) throw new CofferError('storage_unavailable', 'the write timed out.');
    try {
      await client.query('BEGIN');
      const results: unknown[][] = [];
      for (let i = 0; i < statements.length; i++) {
        const statement = statements[i]!;
        let result: pg.QueryResult;
        try {
          result = await client.query(statement.sql, bindableParameters(statement.parameters));
        } catch (err) {
          if ((err as { code?: unknown }).code === uniqueViolation) throw new WriteRejected('unique', i);
          throw err;
        }
        // With RETURNING the rows returned are the rows changed; otherwise the command's row count.
        const count = result.fields.length > 0 ? result.rows.length : (result.rowCount ?? 0);
        if (!expectationMet(statement.expect, count)) throw new WriteRejected('expectation', i);
        results.push(result.fields.length > 0 ? result.rows : []);
      }
      await client.query('COMMIT');
      unit.release();
      return results;
    } catch (err) {
      await unit.rollback();
      throw this.#mapError(err);
    }
  }

  onLateCompletion(listener: () => void): void {
    this.#onLate = listener;
  }

  readSnapshot<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(fn);
  }

  async withLock<T>(name: string, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    await this.#ensureLocksTable();
    await this.db
      .insertInto('coffer_locks')
      .values({ name })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    // A row lock, not an advisory lock: CockroachDB and YugabyteDB have row locks too.
    return this.db.transaction().execute(async (trx) => {
      await trx.selectFrom('coffer_locks').select('name').where('name', '=', name).forUpdate().execute();
      return fn(trx);
    });
  }

  /**
   * CREATE TABLE IF NOT EXISTS is not safe against itself: two nodes racing may get 23505, 42P07, or
   * 42710 (`type "coffer_locks" already exists`: the table's row type was created by the other one).
   */
  #ensureLocksTable(): Promise<void> {
    this.#locksTable ??= (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await sql`create table if not exists coffer_locks (name text primary key)`.execute(this.db);
          return;
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          if (!['23505', '42P07', '42710'].includes(String(code)) || attempt >= 5) throw err;
        }
      }
    })();
    this.#locksTable.catch(() => {
      this.#locksTable = undefined;
    });
    return this.#locksTable;
  }

  async ping(): Promise<void> {
    try {
      await this.#pool.query('SELECT 1');
      this.#failing = false;
    } catch (err) {
      this.#failing = true;
      throw this.#mapError(err);
    }
  }

  health(): StorageHealth {
    return this.#failing || this.#writesFailing ? 'failing' : 'ok';
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await Promise.allSettled([...this.#inFlight]);
        await this.db.destroy();
        if (!this.#pool.ended && !this.#pool.ending) await this.#pool.end();
      } finally {
        this.#dataDirLock?.release();
      }
    })();
    return this.#closing;
  }

  #mapError(err: unknown): unknown {
    return toStorageError(err, this.#target, this.#secrets);
  }
}

/** The one pg client of a write unit, released exactly once whether the unit ends or times out. */
class UnitConnection {
  #client: pg.PoolClient | undefined;
  #released = false;
  #abandoned = false;

  /** Adopts the client; false (and the client is returned) when the unit was already abandoned. */
  take(client: pg.PoolClient): boolean {
    this.#client = client;
    if (!this.#abandoned) return true;
    this.release();
    return false;
  }

  /** Returns the client to the pool, or destroys it when `err` is given (its state is unknown). */
  release(err?: Error): void {
    if (this.#client === undefined || this.#released) return;
    this.#released = true;
    this.#client.release(err);
  }

  /** Gives up on the unit: its connection is closed so that the transaction cannot linger. */
  abandon(err: Error): void {
    this.#abandoned = true;
    this.release(err);
  }

  /** Rolls back after a failed statement; a connection that cannot roll back is destroyed. */
  async rollback(): Promise<void> {
    if (this.#client === undefined || this.#released) return;
    try {
      await this.#client.query('ROLLBACK');
      this.release();
    } catch (err) {
      this.release(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

/** What must never appear in a message: the password, and the URL that carries it. */
function secretsOf(url: string): string[] {
  try {
    const parsed = new URL(url);
    return [url, parsed.password, decodeURIComponent(parsed.password)].filter((s) => s.length > 0);
  } catch {
    return [url];
  }
}
