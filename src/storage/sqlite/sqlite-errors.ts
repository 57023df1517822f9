/** SQLite extended result codes of the two constraint failures a write unit may expect. */
const SQLITE_CONSTRAINT_UNIQUE = 2067;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;

/**
 * Primary result codes that mean the database itself is unusable right now (locked, disk full, I/O
 * error, file gone), as opposed to a statement the database refused.
 */
const unavailableCodes = new Set([
  5, // SQLITE_BUSY
  6, // SQLITE_LOCKED
  7, // SQLITE_NOMEM
  8, // SQLITE_READONLY
  10, // SQLITE_IOERR
  11, // SQLITE_CORRUPT
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
  15, // SQLITE_PROTOCOL
  26, // SQLITE_NOTADB
]);

/** What a node:sqlite error means for a write unit. */
export type SqliteFailure = 'unique' | 'unavailable' | 'statement';

/** Classifies an error thrown by node:sqlite by its extended result code (`errcode`). */
export function classifySqliteError(err: unknown): SqliteFailure {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  if (typeof code !== 'number') return 'statement';
  if (code === SQLITE_CONSTRAINT_UNIQUE || code === SQLITE_CONSTRAINT_PRIMARYKEY) return 'unique';
  return unavailableCodes.has(code & 0xff) ? 'unavailable' : 'statement';
}

/** The message of an error, whatever was thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
