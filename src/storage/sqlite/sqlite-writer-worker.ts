/**
 * The one SQLite writer (runs in a worker thread, see sqlite-writer.ts). It drains every unit queued
 * since its last commit into one `BEGIN IMMEDIATE … COMMIT`, so N concurrent writes cost one fsync
 * (group commit); each unit runs inside its own SAVEPOINT, so a unit that fails is undone alone.
 */

import type { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import { expectationMet } from '../storage-fns.ts';
import { NodeSqliteDatabase } from './node-sqlite-adapter.ts';
import { openSqliteWriteConnection } from './sqlite-connection.ts';
import { classifySqliteError, errorMessage } from './sqlite-errors.ts';
import type {
  UnitOutcome,
  WriterConfig,
  WriterRequest,
  WriterResponse,
  WriterUnit,
} from './sqlite-writer-protocol.ts';

/** Bounds one transaction's size (and its lock time) when a burst queues many units. */
const maxUnitsPerTransaction = 1000;
/** First and longest wait between two attempts to truncate the WAL after a shredding unit. */
const minShredDelayMs = 2;
const maxShredDelayMs = 1000;

const port = parentPort;
if (port === null) throw new Error('sqlite-writer-worker must run in a worker thread');
const config = workerData as WriterConfig;

let connection: { db: DatabaseSync; statements: NodeSqliteDatabase } | undefined;
let openError = '';
const queue: WriterUnit[] = [];
let flushScheduled = false;

function post(message: WriterResponse): void {
  port?.postMessage(message);
}

/** Opens the connection if it is not open; retried on every batch, so a disk that comes back heals. */
function ensureOpen(): typeof connection {
  if (connection !== undefined) return connection;
  try {
    const db = openSqliteWriteConnection(config.file, { busyTimeoutMs: config.busyTimeoutMs });
    connection = { db, statements: new NodeSqliteDatabase(db) };
  } catch (err) {
    openError = errorMessage(err);
  }
  return connection;
}

/** Thrown inside a unit to end it with the given outcome (after its savepoint is rolled back). */
class UnitFailure extends Error {
  readonly outcome: UnitOutcome;
  constructor(outcome: UnitOutcome) {
    super('unit failed');
    this.outcome = outcome;
  }
}

function applyUnit(conn: NonNullable<typeof connection>, unit: WriterUnit): UnitOutcome {
  conn.db.exec('SAVEPOINT coffer_unit');
  try {
    const rows: unknown[][] = [];
    let returnedAny = false;
    for (let i = 0; i < unit.statements.length; i++) {
      const statement = unit.statements[i]!;
      let returned: unknown[];
      let count: number;
      try {
        const prepared = conn.statements.prepare(statement.sql);
        if (prepared.reader) {
          // RETURNING: the rows returned are the rows changed.
          returned = prepared.all(statement.parameters);
          count = returned.length;
        } else {
          returned = [];
          count = Number(prepared.run(statement.parameters).changes);
        }
      } catch (err) {
        const kind = classifySqliteError(err);
        throw new UnitFailure(
          kind === 'unique'
            ? { id: unit.id, ok: false, failure: 'unique', statementIndex: i }
            : { id: unit.id, ok: false, failure: kind, message: `statement ${i}: ${errorMessage(err)}` },
        );
      }
      if (!expectationMet(statement.expect, count)) {
        throw new UnitFailure({ id: unit.id, ok: false, failure: 'expectation', statementIndex: i });
      }
      rows.push(returned);
      if (returned.length > 0) returnedAny = true;
    }
    conn.db.exec('RELEASE coffer_unit');
    return returnedAny ? { id: unit.id, ok: true, rows } : { id: unit.id, ok: true };
  } catch (err) {
    // If this rollback throws, the transaction is in an unknown state: commitBatch fails the batch.
    conn.db.exec('ROLLBACK TO coffer_unit; RELEASE coffer_unit');
    if (err instanceof UnitFailure) return err.outcome;
    throw err;
  }
}

function commitBatch(batch: readonly WriterUnit[]): UnitOutcome[] {
  const unavailable = (message: string) =>
    batch.map((unit): UnitOutcome => ({ id: unit.id, ok: false, failure: 'unavailable', message }));
  const conn = ensureOpen();
  if (conn === undefined) return unavailable(`cannot open the database: ${openError}`);
  try {
    conn.db.exec('BEGIN IMMEDIATE');
  } catch (err) {
    return unavailable(`cannot begin a transaction: ${errorMessage(err)}`);
  }
  const outcomes: UnitOutcome[] = [];
  try {
    for (const unit of batch) outcomes.push(applyUnit(conn, unit));
    // synchronous=FULL: COMMIT returns after the WAL is fsynced, so every answer below is durable.
    conn.db.exec('COMMIT');
    return outcomes;
  } catch (err) {
    try {
      if (conn.db.isTransaction) conn.db.exec('ROLLBACK');
    } catch {
      // The connection is broken; reopen it on the next batch.
      closeQuietly();
    }
    const message = `the transaction failed: ${errorMessage(err)}`;
    // Units already refused keep their answer; nothing else of the batch was committed.
    return batch.map((unit, i): UnitOutcome => {
      const outcome = outcomes[i];
      return outcome !== undefined && !outcome.ok
        ? outcome
        : { id: unit.id, ok: false, failure: 'unavailable', message };
    });
  }
}

function closeQuietly(): void {
  try {
    connection?.statements.close();
  } catch {
    // Already broken; nothing more to release.
  }
  connection = undefined;
}

/**
 * Answers of committed units that erased secret material (`shred`), held until the WAL no longer
 * holds the erased bytes: their old pages stay in `coffer.db-wal` after the commit (secure_delete
 * only zeroes the new page images), so the WAL is checkpointed into the database and truncated first.
 */
let shredHeld: UnitOutcome[] = [];
let shredTimer: NodeJS.Timeout | undefined;
let shredDelayMs = minShredDelayMs;

/**
 * One non-blocking `wal_checkpoint(TRUNCATE)`: true when the WAL is empty. A reader on an older
 * snapshot (the main thread, between two rows of a scan) makes it busy; it is then retried later,
 * while other units keep committing, instead of blocking this thread in the busy handler.
 */
function truncateWal(): boolean {
  const conn = ensureOpen();
  if (conn === undefined) return false;
  try {
    conn.db.exec('PRAGMA busy_timeout = 0');
    const result = conn.db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get() as { busy: number } | undefined;
    return result !== undefined && Number(result.busy) === 0;
  } catch {
    return false;
  } finally {
    try {
      conn.db.exec(`PRAGMA busy_timeout = ${Math.trunc(config.busyTimeoutMs)}`);
    } catch {
      // The connection is broken; the next batch reopens it.
    }
  }
}

/** Truncates the WAL and releases the held answers, or tries again later (backing off to 1 s). */
function shredNow(): void {
  shredTimer = undefined;
  if (shredHeld.length === 0) return;
  if (truncateWal()) {
    const outcomes = shredHeld;
    shredHeld = [];
    shredDelayMs = minShredDelayMs;
    post({ type: 'outcomes', outcomes });
    return;
  }
  shredTimer = setTimeout(shredNow, shredDelayMs);
  shredDelayMs = Math.min(shredDelayMs * 2, maxShredDelayMs);
}

function flush(): void {
  flushScheduled = false;
  let shredded = false;
  while (queue.length > 0) {
    const batch = queue.splice(0, maxUnitsPerTransaction);
    const outcomes = commitBatch(batch);
    const now: UnitOutcome[] = [];
    outcomes.forEach((outcome, i) => {
      const shreds = outcome.ok && batch[i]!.statements.some((statement) => statement.shred === true);
      (shreds ? shredHeld : now).push(outcome);
      shredded ||= shreds;
    });
    if (now.length > 0) post({ type: 'outcomes', outcomes: now });
  }
  // A new shredding unit tries at once, even while an older one waits out its back-off.
  if (shredded) {
    if (shredTimer !== undefined) clearTimeout(shredTimer);
    shredDelayMs = minShredDelayMs;
    shredNow();
  }
}

port.on('message', (request: WriterRequest) => {
  if (request.type === 'write') {
    for (const unit of request.units) queue.push(unit);
    // setImmediate runs after every message already delivered to this thread: those join the batch.
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
    return;
  }
  flush();
  if (shredTimer !== undefined) clearTimeout(shredTimer);
  // Last chance: wait (busy handler) for readers; an answer still held cannot claim the bytes are gone.
  if (shredHeld.length > 0) {
    let truncated = false;
    try {
      truncated = Number(ensureOpen()?.db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get()?.busy) === 0;
    } catch {
      // Reported below as not truncated.
    }
    const outcomes = shredHeld.map((outcome): UnitOutcome =>
      truncated
        ? outcome
        : {
            id: outcome.id,
            ok: false,
            failure: 'unavailable',
            message: 'committed, but the write-ahead log could not be truncated before closing',
          },
    );
    shredHeld = [];
    post({ type: 'outcomes', outcomes });
  }
  closeQuietly();
  post({ type: 'closed' });
  // Nothing keeps the thread alive any more: it exits once the answers above are handed over.
  port.removeAllListeners('message');
  port.unref();
});

post(ensureOpen() === undefined ? { type: 'ready', error: openError } : { type: 'ready' });
