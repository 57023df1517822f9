import { createHash } from 'node:crypto';
import type { SignedCheckpoint } from '../audit/audit-chain.ts';
import type { Engine } from '../storage/storage-types.ts';

/**
 * The backup file (docs/backup.md): gzip of JSON lines. Line 1 is the manifest; then, per table, a
 * `table` line naming its columns, one JSON array per row, and an `end` line with the table's count;
 * the last line is the trailer: SHA-256 over every byte (uncompressed) before it, and the totals.
 * A file without a valid trailer is truncated or corrupted and is refused.
 */
export const backupFormat = 'coffer-backup/v1';

/** The first line of a backup. Nothing in it is secret. */
export interface BackupManifest {
  readonly kind: 'manifest';
  readonly format: typeof backupFormat;
  /** When the snapshot was taken (ISO 8601). */
  readonly createTime: string;
  /** The Coffer version that wrote it. */
  readonly cofferVersion: string;
  /** The newest migration applied in the source database: the schema of the rows. */
  readonly schemaVersion: string;
  /** The engine the backup was taken from (informative: the format is the same for both). */
  readonly sourceEngine: Engine;
  /** The root key the values are encrypted under; null for a store never initialized. */
  readonly rootKey: { readonly rootKeyId: string; readonly fingerprint: string } | null;
  /** Every table in the file, in file order, with its row count. */
  readonly tables: readonly { readonly name: string; readonly rows: number }[];
  /** Each audit chain's head (`audit_chains`) in the snapshot. */
  readonly auditHeads: readonly { readonly chainId: string; readonly headSeq: number }[];
  /** The newest signed audit checkpoint in the snapshot: restore writes it as the node's head file. */
  readonly auditCheckpoint: SignedCheckpoint | null;
}

/** Opens a table's rows. */
export interface TableStart {
  readonly kind: 'table';
  readonly name: string;
  /** Column names, in the order of each row's values (empty when the table has no rows). */
  readonly columns: readonly string[];
}

/** Closes a table's rows. */
export interface TableEnd {
  readonly kind: 'end';
  readonly name: string;
  readonly rows: number;
}

/** The last line. */
export interface BackupTrailer {
  readonly kind: 'trailer';
  /** SHA-256 (hex) over every byte of the uncompressed file before this line. */
  readonly sha256: string;
  readonly tables: number;
  readonly rows: number;
}

/** A backup file that cannot be used; the message says why, never a value. */
export class BackupError extends Error {
  /** What is wrong: for the CLI's exit code and for tests. */
  readonly reason:
    'corrupt' | 'newer_schema' | 'not_empty' | 'root_key_mismatch' | 'unwritable' | 'unavailable';
  constructor(reason: BackupError['reason'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackupError';
    this.reason = reason;
  }
}

/** A column value as it is written: binary as `{"b": base64}`, everything else as JSON. */
export type EncodedValue = string | number | null | { readonly b: string };

/** Encodes one column value read from either engine. */
export function encodeValue(value: unknown): EncodedValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Uint8Array) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return { b: bytes.toString('base64') };
  }
  throw new BackupError('corrupt', `a column holds a value of an unexpected type (${typeof value})`);
}

/** Decodes one column value for an insert on either engine. */
export function decodeValue(value: unknown): string | number | null | Buffer {
  if (value === null || typeof value === 'string' || typeof value === 'number') return value;
  if (typeof value === 'object' && typeof (value as { b?: unknown }).b === 'string')
    return Buffer.from((value as { b: string }).b, 'base64');
  throw new BackupError('corrupt', 'the backup holds a column value of an unknown shape');
}

/**
 * The identity of a root key, as written in the manifest: SHA-256 over the seal record's ids and the
 * sealed root key. It names the key without revealing anything of it (the sealed key is stored as is).
 */
export function rootKeyFingerprint(record: {
  readonly rootKeyId: string;
  readonly unsealKeyId: string;
  readonly sealedRootKey: string;
}): string {
  return createHash('sha256')
    .update(`coffer-root-key/v1\0${record.rootKeyId}\0${record.unsealKeyId}\0${record.sealedRootKey}`)
    .digest('hex');
}
