import { Worker } from 'node:worker_threads';
import { CofferError } from '../../core/errors.ts';
import { plainRow } from '../storage-fns.ts';
import { WriteRejected, type WriteStatement } from '../storage-types.ts';
import type {
  UnitOutcome,
  WriterConfig,
  WriterRequest,
  WriterResponse,
  WriterUnit,
} from './sqlite-writer-protocol.ts';

/** From src the worker is TypeScript run by type stripping; from dist it is the compiled file. */
const workerUrl = new URL(
  import.meta.url.endsWith('.ts') ? './sqlite-writer-worker.ts' : './sqlite-writer-worker.js',
  import.meta.url,
);

interface PendingWrite {
  resolve(rows: unknown[][]): void;
  /** Statements in the unit: an answer without rows means an empty list for each. */
  statements: number;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** Options of the writer thread. */
export interface SqliteWriterOptions extends WriterConfig {
  /** A write not answered within this time is rejected with `storage_unavailable`. */
  readonly writeTimeoutMs: number;
}

/**
 * The main thread's side of the SQLite writer thread: queues units, sends each tick's units in one
 * message, answers every `write()` within `writeTimeoutMs` whatever the thread does (a stuck disk
 * never hangs a request), and restarts the thread if it dies.
 */
export class SqliteWriter {
  readonly #options: SqliteWriterOptions;
  readonly #pending = new Map<number, PendingWrite>();
  #queue: WriterUnit[] = [];
  #flushScheduled = false;
  #nextId = 1;
  #worker: Worker | undefined;
  #failing = false;
  #closing: Promise<void> | undefined;
  #onReady: ((error: string | undefined) => void) | undefined;
  #onClosed: (() => void) | undefined;
  /** Told when a unit already rejected by its timeout commits after all (Storage.onLateCompletion). */
  onLateCommit: (() => void) | undefined;

  private constructor(options: SqliteWriterOptions) {
    this.#options = options;
  }

  /** Starts the writer thread and waits until it has opened the database (WAL, synchronous=FULL). */
  static async start(options: SqliteWriterOptions): Promise<SqliteWriter> {
    const writer = new SqliteWriter(options);
    const error = await new Promise<string | undefined>((resolve) => {
      writer.#onReady = resolve;
      writer.#spawn();
    });
    writer.#onReady = undefined;
    if (error !== undefined) {
      await writer.close();
      throw new CofferError(
        'storage_unavailable',
        `cannot open the SQLite database ${options.file}: ${error}`,
      );
    }
    return writer;
  }

  /** Queues a unit for the next group commit; resolves once it is durable. */
  write(statements: readonly WriteStatement[]): Promise<unknown[][]> {
    if (this.#closing !== undefined) {
      return Promise.reject(new CofferError('storage_unavailable', 'storage is closed.'));
    }
    if (statements.length === 0) return Promise.resolve([]);
    const id = this.#nextId++;
    // Copy to plain data: a Kysely CompiledQuery would otherwise clone its whole operation tree.
    const unit: WriterUnit = {
      id,
      statements: statements.map((s) =>
        s.expect === undefined && s.shred === undefined
          ? { sql: s.sql, parameters: s.parameters }
          : {
              sql: s.sql,
              parameters: s.parameters,
              ...(s.expect === undefined ? {} : { expect: s.expect }),
              ...(s.shred === undefined ? {} : { shred: s.shred }),
            },
      ),
    };
    return new Promise<unknown[][]>((resolve, reject) => {
      const timer = setTimeout(() => this.#timeOut(id), this.#options.writeTimeoutMs);
      this.#pending.set(id, { resolve, reject, timer, statements: statements.length });
      this.#queue.push(unit);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        queueMicrotask(() => this.#flush());
      }
    });
  }

  /** `failing` after a write timed out or failed for lack of a usable database, until one succeeds. */
  health(): 'ok' | 'failing' {
    return this.#failing ? 'failing' : 'ok';
  }

  /** Sends queued units, lets the thread commit them, then stops it (terminated if it does not answer). */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#flush();
    const worker = this.#worker;
    if (worker !== undefined) {
      const closed = new Promise<void>((resolve) => {
        this.#onClosed = resolve;
        worker.once('exit', () => resolve());
      });
      this.#post({ type: 'close' });
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.#options.writeTimeoutMs);
      });
      await Promise.race([closed, deadline]);
      clearTimeout(timer);
      this.#worker = undefined;
      // A thread stuck in a system call cannot be stopped now; never let it keep the process alive.
      worker.unref();
      void worker.terminate().catch(() => undefined);
    }
    this.#rejectAll('storage is closed.');
  }

  #spawn(): void {
    const worker = new Worker(workerUrl, {
      name: 'coffer-sqlite-writer',
      workerData: {
        file: this.#options.file,
        busyTimeoutMs: this.#options.busyTimeoutMs,
      } satisfies WriterConfig,
    });
    worker.on('message', (message: WriterResponse) => this.#onMessage(message));
    worker.on('error', (err) => this.#onDeath(worker, err.message));
    worker.on('exit', (code) => this.#onDeath(worker, `exit code ${code}`));
    this.#worker = worker;
  }

  #post(request: WriterRequest): void {
    if (this.#worker === undefined) this.#spawn();
    this.#worker?.postMessage(request);
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#queue.length === 0) return;
    const units = this.#queue;
    this.#queue = [];
    this.#post({ type: 'write', units });
  }

  #onMessage(message: WriterResponse): void {
    if (message.type === 'ready') {
      this.#onReady?.(message.error);
      if (message.error !== undefined) this.#failing = true;
    } else if (message.type === 'outcomes') {
      for (const outcome of message.outcomes) this.#settle(outcome);
    } else {
      this.#onClosed?.();
    }
  }

  #settle(outcome: UnitOutcome): void {
    const pending = this.#pending.get(outcome.id);
    // The database answered: whatever the unit's fate, the writer works again (unless it says otherwise).
    this.#failing = !outcome.ok && outcome.failure === 'unavailable';
    if (pending === undefined) {
      // Already rejected by its timeout: what it committed must not stay hidden by a cache.
      if (outcome.ok) this.onLateCommit?.();
      return;
    }
    this.#pending.delete(outcome.id);
    clearTimeout(pending.timer);
    if (outcome.ok) {
      pending.resolve(
        outcome.rows === undefined
          ? Array.from({ length: pending.statements }, () => [])
          : outcome.rows.map((rows) => rows.map(plainRow)),
      );
    } else if ('statementIndex' in outcome) {
      pending.reject(new WriteRejected(outcome.failure, outcome.statementIndex));
    } else if (outcome.failure === 'unavailable') {
      pending.reject(new CofferError('storage_unavailable', `the SQLite write failed: ${outcome.message}`));
    } else {
      // A statement the database refused (a bug, not an outage): a plain error, logged as internal.
      pending.reject(new Error(`SQLite refused the write unit at ${outcome.message}`));
    }
  }

  #timeOut(id: number): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    this.#failing = true;
    pending.reject(
      new CofferError(
        'storage_unavailable',
        `the SQLite writer did not answer within ${this.#options.writeTimeoutMs} ms; the write may or may not be applied.`,
      ),
    );
  }

  #onDeath(worker: Worker, reason: string): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    this.#onReady?.(`the writer thread stopped (${reason})`);
    if (this.#closing !== undefined) {
      this.#onClosed?.();
      return;
    }
    // Units sent to the dead thread are lost with it; the next write starts a new thread.
    this.#failing = true;
    this.#queue = [];
    this.#rejectAll(`the SQLite writer thread stopped (${reason}); the write may or may not be applied.`);
  }

  #rejectAll(message: string): void {
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(new CofferError('storage_unavailable', message));
    }
  }
}
