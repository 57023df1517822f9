import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import {
  BackupError,
  type BackupManifest,
  type BackupTrailer,
  backupFormat,
  type TableStart,
} from './backup-format.ts';

/** Rows handed to `BackupVisitor.rows` at once. */
const batchRows = 500;

/** What reading a backup calls, in file order; every call is awaited (so a slow target slows the read). */
export interface BackupVisitor {
  /** The manifest (first line), before anything else. */
  manifest?(manifest: BackupManifest): Promise<void> | void;
  /**
   * Whether `rows` wants the rows of this table (default: all). The others are only hashed and
   * counted, not parsed: checking a whole file costs little more than reading it.
   */
  wants?(table: string): boolean;
  /** A batch of rows of `table`, each an array of encoded values in `table.columns` order. */
  rows?(table: TableStart, rows: readonly unknown[][]): Promise<void> | void;
}

/** A checked backup: its manifest and trailer. */
export interface BackupSummary {
  readonly manifest: BackupManifest;
  readonly trailer: BackupTrailer;
}

function corrupt(message: string): BackupError {
  return new BackupError('corrupt', `the backup file is corrupted or truncated: ${message}`);
}

/**
 * Reads a backup file from start to end, checking it as it goes: the manifest first, each table in
 * the manifest's order with its count, then the trailer's SHA-256 and totals, and nothing after it.
 * Throws BackupError `corrupt` (nothing of a bad file is trusted: callers write nothing until it has
 * been read whole once, or write in a transaction they roll back on the throw).
 */
export async function readBackup(path: string, visitor: BackupVisitor = {}): Promise<BackupSummary> {
  const hash = createHash('sha256');
  let manifest: BackupManifest | undefined;
  let trailer: BackupTrailer | undefined;
  let tableIndex = 0;
  let table: TableStart | undefined;
  let tableRows = 0;
  let totalRows = 0;
  let batch: unknown[][] = [];

  const flush = async () => {
    if (batch.length === 0 || !table) return;
    const rows = batch;
    batch = [];
    await visitor.rows?.(table, rows);
  };

  let wanted = true;
  const handle = async (line: Buffer) => {
    if (trailer) throw corrupt('data after the trailer');
    if (table && !wanted && line[0] === 0x5b) {
      // A row ("[…]") of a table nobody reads: hashed and counted only.
      hash.update(line).update('\n');
      tableRows += 1;
      totalRows += 1;
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(line.toString('utf8'));
    } catch {
      throw corrupt('a line is not JSON');
    }
    if (Array.isArray(value)) {
      hash.update(line).update('\n');
      if (!table) throw corrupt('a row outside a table');
      if (value.length !== table.columns.length) throw corrupt(`a row of ${table.name} has the wrong width`);
      if (wanted) batch.push(value);
      tableRows += 1;
      totalRows += 1;
      if (batch.length >= batchRows) await flush();
      return;
    }
    const record = value as { kind?: unknown } | null;
    const kind = typeof record === 'object' && record !== null ? record.kind : undefined;
    if (kind === 'trailer') {
      if (!manifest || table) throw corrupt('the trailer comes too early');
      trailer = record as BackupTrailer;
      return;
    }
    hash.update(line).update('\n');
    if (!manifest) {
      const m = record as Partial<BackupManifest> | null;
      if (kind !== 'manifest' || m?.format !== backupFormat || !Array.isArray(m.tables))
        throw new BackupError('corrupt', `not a Coffer backup (${backupFormat}) or a corrupted one`);
      manifest = m as BackupManifest;
      await visitor.manifest?.(manifest);
      return;
    }
    if (kind === 'table') {
      const start = record as TableStart;
      const expected = manifest.tables[tableIndex];
      if (table || !expected || start.name !== expected.name || !Array.isArray(start.columns))
        throw corrupt(`unexpected table ${String(start.name)}`);
      if (!start.columns.every((c) => typeof c === 'string' && /^[a-z_][a-z0-9_]*$/.test(c)))
        throw corrupt(`bad column names in table ${start.name}`);
      table = start;
      tableRows = 0;
      wanted = visitor.rows !== undefined && (visitor.wants?.(start.name) ?? true);
      return;
    }
    if (kind === 'end') {
      const end = record as { name?: unknown; rows?: unknown };
      const expected = manifest.tables[tableIndex];
      if (!table || end.name !== table.name || end.rows !== tableRows || expected?.rows !== tableRows)
        throw corrupt(`the rows of table ${table?.name ?? String(end.name)} do not add up`);
      await flush();
      table = undefined;
      tableIndex += 1;
      return;
    }
    throw corrupt('an unknown record');
  };

  const input = createReadStream(path).pipe(createGunzip());
  let pending: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      let data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
      let newline = data.indexOf(10);
      while (newline !== -1) {
        await handle(data.subarray(0, newline));
        data = data.subarray(newline + 1);
        newline = data.indexOf(10);
      }
      pending = Buffer.from(data);
    }
  } catch (err) {
    input.destroy();
    if (err instanceof BackupError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR')
      throw new BackupError('corrupt', `cannot read the backup file ${path} (${code})`);
    // zlib: a cut file ("unexpected end of file"), a flipped byte (bad data or check value).
    throw corrupt((err as Error).message);
  }
  if (pending.length > 0) throw corrupt('the last line is cut');
  if (!manifest) throw corrupt('the file is empty');
  if (!trailer) throw corrupt('no trailer (the backup did not finish)');
  if (trailer.sha256 !== hash.digest('hex')) throw corrupt('the checksum does not match');
  if (tableIndex !== manifest.tables.length || trailer.tables !== tableIndex || trailer.rows !== totalRows)
    throw corrupt('the counts do not match the trailer');
  return { manifest, trailer };
}
