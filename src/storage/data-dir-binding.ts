import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/config.ts';
import { CofferError } from '../core/errors.ts';
import { type Engine, type Storage, WriteRejected } from './storage-types.ts';
import { insertSystemRecord, readSystemRecord } from './system-repo.ts';

/** The file in a data dir that names the one database the data dir belongs to. */
export const dataDirOwnerFile = 'database';

/** Name of the system record holding the store's random id. */
const storeIdRecord = 'store-id';

/** What `<dataDir>/database` records; nothing in it is secret. */
export interface DataDirOwner {
  /** The engine of the database. */
  readonly engine: Engine;
  /** Where it is, for messages: `host:port/db` or the SQLite file. */
  readonly database: string;
  /** The random id stored in the database when it was first opened: what the check compares. */
  readonly storeId: string;
}

/** The store's random id, or undefined when no node has opened this database yet. */
export async function readStoreId(storage: Storage): Promise<string | undefined> {
  const json = await readSystemRecord(storage.db, storeIdRecord);
  if (json === undefined) return undefined;
  return (JSON.parse(json) as { storeId: string }).storeId;
}

/** Gives the store its random id once; nodes racing on one database agree on the first. */
async function ensureStoreId(storage: Storage, nowMs: number): Promise<string> {
  const existing = await readStoreId(storage);
  if (existing !== undefined) return existing;
  const record = JSON.stringify({ storeId: randomUUID() });
  try {
    await storage.write([insertSystemRecord(storage.db, storeIdRecord, record, nowMs)]);
  } catch (err) {
    if (!(err instanceof WriteRejected && err.reason === 'unique')) throw err;
  }
  const made = await readStoreId(storage);
  if (made === undefined) throw new CofferError('storage_unavailable', 'the store id was not stored.');
  return made;
}

function describeOwner(owner: { engine: Engine; database: string; storeId: string | undefined }): string {
  const engine = owner.engine === 'postgres' ? 'PostgreSQL' : 'SQLite';
  return `the ${engine} database ${owner.database} (store ${owner.storeId ?? 'not yet created'})`;
}

const advice =
  'give each database its own data dir (COFFER_DATA_DIR or --data-dir); the seal key file and ' +
  'root-token in a data dir belong to one store';

function readOwner(file: string): DataDirOwner | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(
      'dataDir',
      `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  try {
    const owner = JSON.parse(text) as DataDirOwner;
    if (typeof owner.storeId === 'string' && typeof owner.database === 'string') return owner;
  } catch {
    // Reported below.
  }
  throw new ConfigError('dataDir', `${file} is corrupted (expected the JSON Coffer wrote there)`);
}

function writeOwner(file: string, owner: DataDirOwner): void {
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(owner)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Binds a data dir to one database, so that a server on another database never reuses its seal key
 * file or writes its root-token: the first start records the database's store id in
 * `<dataDir>/database`; a later start on a database with another id (or none) is refused with a
 * ConfigError (the CLI exits 2). A PostgreSQL server is also refused a data dir that holds an embedded
 * SQLite store. Nothing is written to the database before the check passes, except on a first start.
 */
export async function bindDataDir(
  storage: Storage,
  dataDir: string,
  database: string,
  nowMs: number,
): Promise<DataDirOwner> {
  const file = join(dataDir, dataDirOwnerFile);
  const recorded = readOwner(file);
  if (recorded) {
    const storeId = await readStoreId(storage);
    if (storeId !== recorded.storeId) {
      throw new ConfigError(
        'dataDir',
        `${dataDir} belongs to ${describeOwner(recorded)}, not to ${describeOwner({ engine: storage.engine, database, storeId })}: ${advice}`,
      );
    }
    return recorded;
  }
  if (storage.engine === 'postgres' && existsSync(join(dataDir, 'coffer.db'))) {
    throw new ConfigError(
      'dataDir',
      `${dataDir} holds an embedded SQLite store (coffer.db); it cannot also serve the PostgreSQL database ${database}: ${advice}`,
    );
  }
  const owner: DataDirOwner = {
    engine: storage.engine,
    database,
    storeId: await ensureStoreId(storage, nowMs),
  };
  writeOwner(file, owner);
  return owner;
}
