import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BackupError } from '../../src/backup/backup-format.ts';

/** Helpers of the backup tests: data dirs to restore into, crafted files, refusals. */

/** A new data dir holding a copy of `from`'s seal key file (the operator's restore step). */
export function dataDirWithKey(work: string, name: string, from: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { mode: 0o700 });
  copyFileSync(join(from, 'seal.key'), join(dir, 'seal.key'));
  chmodSync(join(dir, 'seal.key'), 0o600);
  return dir;
}

/**
 * Rewrites a backup's records (first the manifest, then tables, rows and ends) and re-seals its
 * checksum: a well-formed file with other content.
 */
export function rewriteBackup(file: string, out: string, change: (records: unknown[]) => unknown[]): void {
  const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n').filter(Boolean);
  const trailer = JSON.parse(lines.pop()!) as Record<string, unknown>;
  const records = change(lines.map((line) => JSON.parse(line) as unknown));
  const body = records.map((record) => `${JSON.stringify(record)}\n`).join('');
  trailer.sha256 = createHash('sha256').update(body).digest('hex');
  trailer.tables = (records[0] as { tables: unknown[] }).tables.length;
  trailer.rows = records.filter((record) => Array.isArray(record)).length;
  writeFileSync(out, gzipSync(`${body}${JSON.stringify(trailer)}\n`));
}

/** Asserts a restore is refused with `reason` and a message matching `pattern`. */
export async function refused(promise: Promise<unknown>, reason: BackupError['reason'], pattern: RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof BackupError, String(err));
    assert.equal(err.reason, reason, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}
