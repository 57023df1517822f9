import type { LogEvent } from 'kysely';
import { type Storage, type WriteStatement, WriteRejected } from './storage-types.ts';

/** Told about every query run through `storage.db` (reads), once it settles (metrics). */
export type QueryObserver = (seconds: number, failed: boolean) => void;

/**
 * Kysely's `log` option reporting each query's duration and failure to `observer`. Kysely only
 * wraps a connection's queries when a log is configured, so without an observer reads cost nothing.
 */
export function queryLog(observer: QueryObserver): (event: LogEvent) => void {
  return (event) => observer(event.queryDurationMillis / 1000, event.level === 'error');
}

/** Told about every write unit once it settles (metrics). Must be cheap: it runs on every write. */
export interface StorageWriteObserver {
  /**
   * A unit settled after `seconds`: `ok`, `rejected` (WriteRejected: a constraint or expectation,
   * nothing written: the caller's conflict, not a storage fault) or `failed` (storage unavailable,
   * timed out, or an unknown outcome).
   */
  written(seconds: number, outcome: 'ok' | 'rejected' | 'failed'): void;
}

/**
 * `storage` whose `write` reports each unit's duration and outcome to `observer` (the time the
 * caller waits: queueing in the group commit included). Everything else is passed through.
 */
export function withWriteTiming(storage: Storage, observer: StorageWriteObserver): Storage {
  return {
    engine: storage.engine,
    db: storage.db,
    async write(statements: readonly WriteStatement[]) {
      const started = performance.now();
      try {
        const rows = await storage.write(statements);
        observer.written((performance.now() - started) / 1000, 'ok');
        return rows;
      } catch (err) {
        observer.written(
          (performance.now() - started) / 1000,
          err instanceof WriteRejected ? 'rejected' : 'failed',
        );
        throw err;
      }
    },
    withLock: (name, fn) => storage.withLock(name, fn),
    ping: () => storage.ping(),
    close: () => storage.close(),
    ...(storage.health ? { health: () => storage.health!() } : {}),
    ...(storage.iterateRows ? { iterateRows: (query) => storage.iterateRows!(query) } : {}),
    ...(storage.readSnapshot ? { readSnapshot: (fn) => storage.readSnapshot!(fn) } : {}),
    ...(storage.onLateCompletion
      ? { onLateCompletion: (listener: () => void) => storage.onLateCompletion!(listener) }
      : {}),
  };
}
