import { join, resolve } from 'node:path';
import { acquireDataDirLock } from './data-dir-lock.ts';
import { bindDataDir } from './data-dir-binding.ts';
import { createDataDir, isPostgresUrl, type OpenStorageOptions, openStorage } from './open-storage.ts';
import { describePostgresTarget } from './postgres/postgres-errors.ts';
import type { Storage } from './storage-types.ts';

/**
 * Opens the storage of a running server: the data dir is created (mode 0700) and locked on both
 * engines (SQLite takes the lock itself), the schema is brought up to date, and the data dir is bound
 * to its database (see `bindDataDir`): a data dir that belongs to another database is refused.
 */
export async function openNodeStorage(
  options: OpenStorageOptions & { readonly nowMs: number },
): Promise<Storage> {
  const dataDir = createDataDir(options.dataDir);
  const postgresUrl = isPostgresUrl(options.databaseUrl) ? options.databaseUrl : undefined;
  const lock = postgresUrl === undefined ? undefined : acquireDataDirLock(dataDir);
  let storage: Storage;
  try {
    storage = await openStorage({ ...options, ...(lock === undefined ? {} : { dataDirLock: lock }) });
  } catch (err) {
    lock?.release();
    throw err;
  }
  try {
    const database =
      postgresUrl === undefined ? join(resolve(dataDir), 'coffer.db') : describePostgresTarget(postgresUrl);
    await bindDataDir(storage, dataDir, database, options.nowMs);
  } catch (err) {
    await storage.close().catch(() => undefined);
    throw err;
  }
  return storage;
}
