/** The storage layer's public surface (see README.md for its invariants). */

export { runMigrations } from './migrate.ts';
export type { Migration } from './migrations/index.ts';
export { migrations } from './migrations/index.ts';
export { isPostgresUrl, type OpenStorageOptions, openStorage } from './open-storage.ts';
export { openPostgresStorage, type PostgresStorageOptions } from './postgres/postgres-storage.ts';
export type { Database } from './schema.ts';
export { toBuffer } from './schema.ts';
export { acquireDataDirLock, type DataDirLock } from './data-dir-lock.ts';
export { openSqliteStorage, type SqliteStorageOptions } from './sqlite/sqlite-storage.ts';
export type { Engine, Storage, StorageHealth, WriteStatement } from './storage-types.ts';
export { stmt, WriteRejected } from './storage-types.ts';
