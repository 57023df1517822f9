import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { CheckpointKind, SignedCheckpoint } from '../audit/audit-chain.ts';
import { parseSealRecord } from '../barrier/seal-record.ts';
import { CofferError } from '../core/errors.ts';
import { migrations } from '../storage/migrations/index.ts';
import type { Database } from '../storage/schema.ts';
import type { Engine, Storage } from '../storage/storage-types.ts';
import {
  type BackupManifest,
  type BackupTrailer,
  backupFormat,
  encodeValue,
  rootKeyFingerprint,
} from './backup-format.ts';
import { type BackupTable, backupTables, notBackedUp } from './backup-tables.ts';

/** Rows read per query: large enough to amortize a round trip, small enough to never hold a table. */
const pageSize = 2000;
/** Bytes gathered before one write to the gzip stream. */
const chunkBytes = 256 * 1024;

/** What a backup needs besides the storage. */
export interface BackupOptions {
  /** The Coffer version written into the manifest. */
  readonly cofferVersion: string;
  /** The manifest's time. */
  readonly nowMs: number;
  /** Told after each page of rows: rows written so far, rows in the snapshot. */
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * A backup of the whole store as a gzip byte stream (docs/backup.md), read from one consistent
 * snapshot while writes go on, a page of rows at a time. Resolves once the snapshot is open and the
 * manifest written (so a database that cannot be read fails here, before any byte is sent); after
 * that the stream errors (and never ends cleanly) when the backup fails, so a consumer that saw `end`
 * has a complete file with its trailer.
 */
export function backupStream(storage: Storage, options: BackupOptions): Promise<Readable> {
  const gzip = createGzip({ level: 1 });
  return new Promise((resolve, reject) => {
    let started = false;
    const start = () => {
      started = true;
      resolve(gzip);
    };
    void (async () => {
      try {
        if (!storage.readSnapshot) throw new Error('this storage cannot take a consistent snapshot');
        const out = new LineWriter(gzip);
        await storage.readSnapshot((db) => writeSnapshot(db, storage.engine, out, options, start));
        gzip.end();
      } catch (err) {
        if (!started) {
          gzip.destroy();
          reject(err instanceof Error ? err : new Error(String(err)));
        } else gzip.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    })();
  });
}

async function writeSnapshot(
  db: Kysely<Database>,
  engine: Engine,
  out: LineWriter,
  options: BackupOptions,
  started: () => void,
): Promise<void> {
  await checkTables(db, engine);
  const manifest = await readManifest(db, engine, options);
  await out.line(JSON.stringify(manifest));
  started();
  const total = manifest.tables.reduce((sum, table) => sum + table.rows, 0);
  let done = 0;
  for (const table of backupTables) {
    let rows = 0;
    let started = false;
    let last: unknown[] | undefined;
    for (;;) {
      const page = await readPage(db, table, last);
      if (!started) {
        const columns = page.length > 0 ? Object.keys(page[0]!) : [];
        await out.line(JSON.stringify({ kind: 'table', name: table.name, columns }));
        started = true;
      }
      for (const row of page) await out.line(JSON.stringify(Object.values(row).map(encodeValue)));
      rows += page.length;
      done += page.length;
      options.onProgress?.(done, total);
      if (page.length < pageSize) break;
      const tail = page[page.length - 1]!;
      last = table.key.map((column) => tail[column]);
    }
    const expected = manifest.tables.find((t) => t.name === table.name)!.rows;
    // Cannot happen in a snapshot; if it did, the file must not look whole.
    if (rows !== expected)
      throw new Error(`table ${table.name}: read ${rows} rows, the snapshot counted ${expected}`);
    await out.line(JSON.stringify({ kind: 'end', name: table.name, rows }));
  }
  const trailer: BackupTrailer = {
    kind: 'trailer',
    sha256: out.digest(),
    tables: backupTables.length,
    rows: done,
  };
  await out.last(JSON.stringify(trailer));
}

/** Refuses a database with a table nobody decided about (a new migration's table must be listed). */
async function checkTables(db: Kysely<Database>, engine: Engine): Promise<void> {
  const query =
    engine === 'sqlite'
      ? sql<{
          name: string;
        }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`
      : sql<{
          name: string;
        }>`select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`;
  const known = new Set([...backupTables.map((t) => t.name), ...notBackedUp]);
  for (const { name } of (await query.execute(db)).rows)
    if (!known.has(name))
      throw new CofferError('internal', `backup: table ${name} is not in the backup's table list`);
}

function excludeCondition(table: BackupTable): RawBuilder<unknown> | undefined {
  return table.exclude ? sql`${sql.ref(table.exclude.column)} <> ${table.exclude.value}` : undefined;
}

async function readPage(
  db: Kysely<Database>,
  table: BackupTable,
  after: readonly unknown[] | undefined,
): Promise<Record<string, unknown>[]> {
  const key = sql.join(table.key.map((column) => sql.ref(column)));
  const conditions: RawBuilder<unknown>[] = [];
  const exclude = excludeCondition(table);
  if (exclude) conditions.push(exclude);
  if (after) conditions.push(sql`(${key}) > (${sql.join(after)})`);
  const where = conditions.length > 0 ? sql`where ${sql.join(conditions, sql` and `)}` : sql``;
  const result = await sql<
    Record<string, unknown>
  >`select * from ${sql.table(table.name)} ${where} order by ${key} limit ${sql.lit(pageSize)}`.execute(db);
  return result.rows;
}

async function readManifest(
  db: Kysely<Database>,
  engine: Engine,
  options: BackupOptions,
): Promise<BackupManifest> {
  const applied = new Set((await db.selectFrom('coffer_migrations').select('id').execute()).map((r) => r.id));
  const unknown = [...applied].filter((id) => !migrations.some((m) => m.id === id));
  if (unknown.length > 0)
    throw new CofferError(
      'internal',
      `backup: the database has migrations this build does not know: ${unknown.join(', ')}`,
    );
  const schemaVersion = [...migrations].reverse().find((m) => applied.has(m.id))?.id ?? '';
  const tables: { name: string; rows: number }[] = [];
  for (const table of backupTables) {
    const exclude = excludeCondition(table);
    const where = exclude ? sql`where ${exclude}` : sql``;
    const result = await sql<{
      n: number | string;
    }>`select count(*) as n from ${sql.table(table.name)} ${where}`.execute(db);
    tables.push({ name: table.name, rows: Number(result.rows[0]?.n ?? 0) });
  }
  // The seal record's name ('seal', app/initialize.ts): backups sit below the app layer.
  const seal = await db.selectFrom('system').select('value').where('name', '=', 'seal').executeTakeFirst();
  const record = seal ? parseSealRecord(seal.value) : undefined;
  const heads = await db
    .selectFrom('audit_chains')
    .select(['chain_id', 'head_seq'])
    .orderBy('chain_id')
    .execute();
  const newest = await db
    .selectFrom('audit_checkpoints')
    .selectAll()
    .where('kind', '<>', 'prune')
    .orderBy('time', 'desc')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  const auditCheckpoint: SignedCheckpoint | null = newest
    ? {
        chainId: newest.chain_id,
        seq: Number(newest.seq),
        hash: newest.hash,
        timeMs: Number(newest.time),
        kind: newest.kind as CheckpointKind,
        prevCheckpoint: newest.prev_checkpoint,
        signature: newest.signature,
      }
    : null;
  return {
    kind: 'manifest',
    format: backupFormat,
    createTime: new Date(options.nowMs).toISOString(),
    cofferVersion: options.cofferVersion,
    schemaVersion,
    sourceEngine: engine,
    rootKey: record ? { rootKeyId: record.rootKeyId, fingerprint: rootKeyFingerprint(record) } : null,
    tables,
    auditHeads: heads.map((h) => ({ chainId: h.chain_id, headSeq: Number(h.head_seq) })),
    auditCheckpoint,
  };
}

/** Writes lines to the gzip stream in chunks, hashing them, waiting when the consumer is slow. */
class LineWriter {
  readonly #out: Writable;
  readonly #hash = createHash('sha256');
  #parts: string[] = [];
  #size = 0;

  constructor(out: Writable) {
    this.#out = out;
  }

  /** Adds one line (hashed). */
  async line(text: string): Promise<void> {
    const line = `${text}\n`;
    this.#hash.update(line);
    this.#parts.push(line);
    this.#size += line.length;
    if (this.#size >= chunkBytes) await this.#flush();
  }

  /** The hash of every line so far. */
  digest(): string {
    return this.#hash.copy().digest('hex');
  }

  /** Adds the trailer (not hashed) and flushes. */
  async last(text: string): Promise<void> {
    this.#parts.push(`${text}\n`);
    await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#parts.length === 0) return;
    const chunk = this.#parts.join('');
    this.#parts = [];
    this.#size = 0;
    if (this.#out.destroyed) throw new Error('the backup stream was closed');
    if (!this.#out.write(chunk)) await drained(this.#out);
  }
}

function drained(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      stream.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('the backup stream was closed'));
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    stream.on('error', done);
  });
}
