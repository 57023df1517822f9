import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CofferError } from '../core/errors.ts';
import type { DataDirLock } from './data-dir-lock.ts';
import { runMigrations } from './migrate.ts';
import { openPostgresStorage } from './postgres/postgres-storage.ts';
import { openSqliteStorage } from './sqlite/sqlite-storage.ts';
import type { Storage } from './storage-types.ts';
import type { QueryObserver } from './timed-storage.ts';

/** Where Coffer keeps its data. */
export interface OpenStorageOptions {
  /** A `postgres://` or `postgresql://` URL selects PostgreSQL; absent, the embedded SQLite is used. */
  readonly databaseUrl?: string;
  /** The data dir: `coffer.db` (SQLite), `coffer.lock` and `coffer.pid` live here (created with mode 0700). */
  readonly dataDir: string;
  /** A write not acknowledged within this time rejects with `storage_unavailable`. */
  readonly writeTimeoutMs: number;
  /** PostgreSQL pool size; default 10. */
  readonly poolSize?: number;
  /** Told about errors of idle PostgreSQL connections; the message is safe to log. */
  readonly onBackgroundError?: (message: string) => void;
  /** PostgreSQL: the data dir lock the storage releases when it closes (SQLite locks its own). */
  readonly dataDirLock?: DataDirLock;
  /** Told about every query run through `db` (reads): duration and failure (metrics). */
  readonly onQuery?: QueryObserver;
  /** PostgreSQL: `application_name` of the node's connections (see cluster-view.ts). */
  readonly applicationName?: string;
}

/** True when the URL selects PostgreSQL. */
export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

/**
 * Opens the storage the options select and brings its schema up to date. A database that cannot be
 * reached fails with `storage_unavailable` naming host:port/db, never the password.
 */
export async function openStorage(options: OpenStorageOptions): Promise<Storage> {
  const storage = isPostgresUrl(options.databaseUrl)
    ? await openPostgresStorage({
        url: options.databaseUrl,
        writeTimeoutMs: options.writeTimeoutMs,
        ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
        ...(options.onBackgroundError === undefined ? {} : { onBackgroundError: options.onBackgroundError }),
        ...(options.dataDirLock === undefined ? {} : { dataDirLock: options.dataDirLock }),
        ...(options.onQuery === undefined ? {} : { onQuery: options.onQuery }),
        ...(options.applicationName === undefined ? {} : { applicationName: options.applicationName }),
      })
    : await openSqliteStorage({
        file: join(createDataDir(options.dataDir), 'coffer.db'),
        writeTimeoutMs: options.writeTimeoutMs,
        ...(options.onQuery === undefined ? {} : { onQuery: options.onQuery }),
      });
  try {
    await runMigrations(storage);
  } catch (err) {
    await storage.close().catch(() => undefined);
    throw err;
  }
  return storage;
}

/** The data dir holds keys and the database: owner-only (an existing dir keeps its mode). */
export function createDataDir(dataDir: string): string {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new CofferError('storage_unavailable', `cannot create data dir ${dataDir}: ${reason}`, {
      cause: err,
    });
  }
  return dataDir;
}
