import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { CompiledQuery, type Kysely, sql } from 'kysely';
import { auditHeadPath, writeAuditHead } from '../audit/audit-head-file.ts';
import { readSealKeyFile, SealKeyFileError } from '../barrier/seal-key-file.ts';
import { openRootKey, parseSealRecord, type SealRecord } from '../barrier/seal-record.ts';
import { CofferError } from '../core/errors.ts';
import { acquireDataDirLock, type DataDirLock } from '../storage/data-dir-lock.ts';
import { migrations } from '../storage/migrations/index.ts';
import { isPostgresUrl } from '../storage/open-storage.ts';
import { openPostgresStorage } from '../storage/postgres/postgres-storage.ts';
import type { Database } from '../storage/schema.ts';
import { openSqliteStorage } from '../storage/sqlite/sqlite-storage.ts';
import type { Engine, Storage } from '../storage/storage-types.ts';
import { BackupError, type BackupManifest, decodeValue, rootKeyFingerprint } from './backup-format.ts';
import { readBackup } from './backup-reader.ts';
import { backupTable, backupTables, notBackedUp } from './backup-tables.ts';

/** Where and how to restore. */
export interface RestoreOptions {
  /** The backup file. */
  readonly file: string;
  /** The node's data dir: holds the SQLite database, and receives the audit head file. */
  readonly dataDir: string;
  /** A PostgreSQL URL restores into that (empty) database; absent, into SQLite in `dataDir`. */
  readonly databaseUrl?: string;
  /** Bounds connecting to PostgreSQL. */
  readonly writeTimeoutMs: number;
  /** Told after each batch of rows: rows restored, rows in the backup. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** What was restored. */
export interface RestoreResult {
  readonly manifest: BackupManifest;
  readonly engine: Engine;
  readonly rows: number;
}

/** Files whose presence makes a data dir not empty (a store lives or lived there). */
const storeFiles = ['coffer.db', 'coffer.db-wal', 'database', 'audit-head.json', 'root-token'];

/** Bound parameters per insert, under both engines' limits (SQLite 32766, PostgreSQL 65535). */
const maxParameters = 30_000;

/**
 * Restores a backup into an empty target with the server stopped (docs/backup.md). Everything that
 * can refuse is checked before anything is written: the whole file (checksum, counts), its schema
 * (not newer than this build), the target (empty, not in use), and the root key (a seal key file in
 * the data dir must open the backup's root key). The rows then go in with the schema in ONE
 * transaction (SQLite: into a temporary file moved into place at the end), so a failure leaves
 * nothing. Migrations newer than the backup's schema run in that transaction after the rows.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  let seal: SealRecord | undefined;
  const { manifest, trailer } = await readBackup(options.file, {
    wants: (table) => table === 'system',
    rows(table, rows) {
      if (table.name !== 'system') return;
      const name = table.columns.indexOf('name');
      const value = table.columns.indexOf('value');
      for (const row of rows) if (row[name] === 'seal') seal = parseSeal(row[value]);
    },
  });
  const schemaIndex = migrations.findIndex((m) => m.id === manifest.schemaVersion);
  if (schemaIndex === -1) {
    throw new BackupError(
      'newer_schema',
      `the backup's schema (${manifest.schemaVersion}, Coffer ${manifest.cofferVersion}) is newer than this ` +
        `Coffer's (${migrations[migrations.length - 1]!.id}): restore it with Coffer ${manifest.cofferVersion} or later`,
    );
  }
  const fingerprint = seal ? rootKeyFingerprint(seal) : undefined;
  if (fingerprint !== manifest.rootKey?.fingerprint)
    throw new BackupError(
      'corrupt',
      'the backup file is corrupted: its seal record does not match its manifest',
    );
  for (const table of manifest.tables)
    if (!backupTable(table.name))
      throw new BackupError('corrupt', `the backup holds an unknown table ${table.name}`);

  const dataDir = resolve(options.dataDir);
  checkDataDirEmpty(dataDir);
  checkSealKeyFile(dataDir, seal);

  const postgresUrl = isPostgresUrl(options.databaseUrl) ? options.databaseUrl : undefined;
  const createdDir = !existsSync(dataDir);
  const tempDir = join(dataDir, `.restore-${process.pid}`);
  let lock: DataDirLock | undefined;
  let storage: Storage | undefined;
  let headWritten = false;
  let succeeded = false;
  try {
    if (postgresUrl) {
      storage = await openPostgresStorage({
        url: postgresUrl,
        writeTimeoutMs: options.writeTimeoutMs,
        poolSize: 2,
      });
      await checkDatabaseEmpty(storage);
    }
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    lock = acquireDataDirLock(dataDir);
    if (!postgresUrl) {
      mkdirSync(tempDir, { mode: 0o700 });
      storage = await openSqliteStorage({
        file: join(tempDir, 'coffer.db'),
        writeTimeoutMs: options.writeTimeoutMs,
      });
    }
    const target = storage!;
    let done = 0;
    await target.withLock('restore', async (trx) => {
      await createMigrationsTable(trx);
      await applyMigrations(trx, target.engine, 0, schemaIndex + 1);
      // Migrations may seed rows (the change-feed counter): the backup's rows replace them.
      for (const table of manifest.tables) await sql`delete from ${sql.table(table.name)}`.execute(trx);
      await readBackup(options.file, {
        async rows(table, rows) {
          // Rows a backup never holds (the store id binds data dirs to one store) are refused.
          const rule = backupTable(table.name)?.exclude;
          const at = rule ? table.columns.indexOf(rule.column) : -1;
          if (rule && at >= 0 && rows.some((row) => row[at] === rule.value))
            throw new BackupError(
              'corrupt',
              `the backup holds a ${table.name} row that backups never hold (${rule.column} ${rule.value})`,
            );
          await insertRows(trx, target.engine, table.name, table.columns, rows);
          done += rows.length;
          options.onProgress?.(done, trailer.rows);
        },
      });
      await applyMigrations(trx, target.engine, schemaIndex + 1, migrations.length);
      if (target.engine === 'postgres')
        await sql`select setval(pg_get_serial_sequence('change_log', 'seq'), coalesce((select max(seq) from change_log), 0) + 1, false)`.execute(
          trx,
        );
      if (manifest.auditCheckpoint) {
        headWritten = true;
        await writeAuditHead(auditHeadPath(dataDir), manifest.auditCheckpoint);
      }
    });
    await target.close();
    storage = undefined;
    if (!postgresUrl) moveSqliteFile(join(tempDir, 'coffer.db'), join(dataDir, 'coffer.db'));
    succeeded = true;
    return { manifest, engine: target.engine, rows: done };
  } catch (err) {
    throw restoreFailure(err);
  } finally {
    await storage?.close().catch(() => undefined);
    rmSync(tempDir, { recursive: true, force: true });
    lock?.release();
    if (!succeeded && headWritten) rmSync(auditHeadPath(dataDir), { force: true });
    if (!succeeded && createdDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Moves the restored SQLite file into the data dir: its WAL folded in first (rollback journal mode
 * leaves no -wal file; the server switches back to WAL when it opens it), fsynced, then renamed, so
 * the data dir holds the whole database or none.
 */
function moveSqliteFile(from: string, to: string): void {
  const db = new DatabaseSync(from);
  try {
    db.exec('PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;');
  } finally {
    db.close();
  }
  const fd = openSync(from, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(from, to);
  const dir = openSync(dirname(to), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

function parseSeal(value: unknown): SealRecord {
  try {
    return parseSealRecord(String(value));
  } catch {
    throw new BackupError('corrupt', 'the backup file is corrupted: its seal record cannot be read');
  }
}

function restoreFailure(err: unknown): Error {
  if (err instanceof BackupError) return err;
  if (err instanceof CofferError && err.code === 'storage_unavailable')
    return new BackupError('unavailable', `restore failed, nothing was written: ${err.message}`, {
      cause: err,
    });
  const message = err instanceof Error ? err.message : String(err);
  return new BackupError('unavailable', `restore failed, nothing was written: ${message}`, { cause: err });
}

function checkDataDirEmpty(dataDir: string): void {
  if (!existsSync(dataDir)) return;
  if (!statSync(dataDir).isDirectory()) throw new BackupError('not_empty', `${dataDir} is not a directory`);
  const present = readdirSync(dataDir).filter((name) => storeFiles.includes(name));
  if (present.length > 0)
    throw new BackupError(
      'not_empty',
      `the data dir ${dataDir} is not empty (it holds ${present.join(', ')}): restore into a new data dir`,
    );
}

/** A seal key file already in the data dir must open the backup's root key. */
function checkSealKeyFile(dataDir: string, seal: SealRecord | undefined): void {
  const path = join(dataDir, 'seal.key');
  let key: Buffer | undefined;
  try {
    key = readSealKeyFile(path);
  } catch (err) {
    if (err instanceof SealKeyFileError) throw new BackupError('root_key_mismatch', err.message);
    throw err;
  }
  if (key === undefined || seal === undefined) {
    key?.fill(0);
    return;
  }
  const opened = openRootKey(seal, key);
  key.fill(0);
  if (!opened)
    throw new BackupError(
      'root_key_mismatch',
      `the seal key file ${path} does not open this backup's root key (the backup was made under another ` +
        `root key${seal.type === 'shamir' ? ', sealed with Shamir shares' : ''}): nothing was written`,
    );
}

async function checkDatabaseEmpty(storage: Storage): Promise<void> {
  const ours = [...backupTables.map((t) => t.name), ...notBackedUp.filter((n) => n !== 'coffer_locks')];
  const found = await sql<{
    name: string;
  }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(
    storage.db,
  );
  const present = found.rows.map((r) => r.name).filter((name) => ours.includes(name));
  if (present.length > 0)
    throw new BackupError(
      'not_empty',
      `the database is not empty (it has Coffer tables: ${present.slice(0, 3).join(', ')}…): restore into an empty database`,
    );
}

async function createMigrationsTable(trx: Kysely<Database>): Promise<void> {
  await trx.schema
    .createTable('coffer_migrations')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('applied_at', 'bigint', (c) => c.notNull())
    .execute();
}

async function applyMigrations(
  trx: Kysely<Database>,
  engine: Engine,
  from: number,
  to: number,
): Promise<void> {
  for (const migration of migrations.slice(from, to)) {
    await migration.up(trx, engine);
    await trx.insertInto('coffer_migrations').values({ id: migration.id, applied_at: Date.now() }).execute();
  }
}

/**
 * Inserts rows with one multi-row INSERT per batch, its SQL built once per shape (the table and
 * column names were checked against the known tables and a strict pattern when the file was read):
 * compiling thousands of parameters through the query builder costs more than the insert.
 */
async function insertRows(
  trx: Kysely<Database>,
  engine: Engine,
  table: string,
  columns: readonly string[],
  rows: readonly unknown[][],
): Promise<void> {
  const perInsert = Math.max(1, Math.floor(maxParameters / Math.max(1, columns.length)));
  for (let i = 0; i < rows.length; i += perInsert) {
    const batch = rows.slice(i, i + perInsert);
    const parameters: unknown[] = [];
    for (const row of batch) for (const value of row) parameters.push(decodeValue(value));
    await trx.executeQuery(CompiledQuery.raw(insertSql(engine, table, columns, batch.length), parameters));
  }
}

const insertSqlCache = new Map<string, string>();

function insertSql(engine: Engine, table: string, columns: readonly string[], rows: number): string {
  const key = `${engine}\0${table}\0${columns.join(',')}\0${rows}`;
  let text = insertSqlCache.get(key);
  if (text === undefined) {
    let n = 0;
    const tuple = () => `(${columns.map(() => (engine === 'postgres' ? `$${++n}` : '?')).join(', ')})`;
    const tuples = Array.from({ length: rows }, tuple).join(', ');
    text = `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values ${tuples}`;
    if (insertSqlCache.size > 100) insertSqlCache.clear();
    insertSqlCache.set(key, text);
  }
  return text;
}
