/**
 * The single-writer commit rate the putSecretValue target is measured against: one node:sqlite
 * connection (`journal_mode=WAL`, `synchronous=FULL`, so one WAL fsync per commit) doing one INSERT
 * of a 200-byte row per transaction for `seconds`, in a fresh file under `dir`. Prints one JSON line:
 * `{"commits":…,"seconds":…,"commitsPerSecond":…}`. Started pinned to the server CPU by the secrets
 * scenario: `node bench/tools/fsync-writer.ts <dir> <seconds>`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

const dir = mkdtempSync(join(process.argv[2] ?? '.', 'fsync-writer-'));
const seconds = Number(process.argv[3] ?? 5);
const db = new DatabaseSync(join(dir, 'w.db'));
try {
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  const value = randomBytes(150).toString('base64');
  const started = performance.now();
  const end = started + seconds * 1000;
  let commits = 0;
  while (performance.now() < end) {
    db.exec('BEGIN');
    insert.run(value);
    db.exec('COMMIT');
    commits++;
  }
  const elapsed = (performance.now() - started) / 1000;
  process.stdout.write(
    `${JSON.stringify({ commits, seconds: elapsed, commitsPerSecond: commits / elapsed })}\n`,
  );
} finally {
  db.close();
  rmSync(dir, { recursive: true, force: true });
}
