import {
  chmodSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { CofferError } from '../core/errors.ts';

/** A held data directory; `release()` gives it up (idempotent). */
export interface DataDirLock {
  /** The lock file whose write lock this process holds. */
  readonly file: string;
  /** Gives the directory up. */
  release(): void;
}

/**
 * Lock files this process holds, by file identity (`dev:ino`, so every spelling of the path, through
 * symlinks or bind mounts, is the same key), with their connections: a second open in the same
 * process is refused before it touches the file, and a connection referenced here is never
 * garbage-collected (closed) while held.
 */
const heldHere = new Map<string, DatabaseSync>();

/** The identity of `file` (`dev:ino`), or undefined when it does not exist yet. */
function fileIdentity(file: string): string | undefined {
  const stats = statSync(file, { bigint: true, throwIfNoEntry: false });
  return stats === undefined ? undefined : `${stats.dev}:${stats.ino}`;
}

/** SQLITE_BUSY: another connection holds the lock. */
const sqliteBusy = 5;

/**
 * Locks `<dataDir>/coffer.lock` so that a second Coffer process on the same data dir is refused: on
 * SQLite two writers would break the one-writer, group-commit design; on PostgreSQL two servers would
 * share one seal key file and root-token file.
 *
 * The lock is a SQLite write lock held for the life of the process (`locking_mode=EXCLUSIVE`, an
 * open `BEGIN EXCLUSIVE`): SQLite takes it with POSIX `fcntl` locks, which the kernel keeps per
 * file, not per pid namespace, and drops when the process dies. So two containers sharing a volume
 * (each server pid 1) exclude each other, and a killed server leaves nothing to clean up. A pid
 * file would do neither: pids mean nothing across namespaces, and "is it alive" races.
 * `coffer.pid` is written only to name the holder in the refusal. `coffer.lock` is never deleted
 * (a process still opening the old inode would lock a file nobody else sees), and nothing else in
 * the process may open it: closing any descriptor of a file drops the process's fcntl locks on it.
 * Network filesystems: the lock is only as good as their fcntl locking.
 */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  let file: string;
  let identity: string | undefined;
  try {
    file = join(realpathSync(resolve(dataDir)), 'coffer.lock');
    identity = fileIdentity(file);
  } catch (err) {
    throw unavailable(dataDir, err);
  }
  // Checked before anything opens the file: closing any descriptor of it would drop the held lock.
  if (identity !== undefined && heldHere.has(identity)) {
    throw new CofferError('storage_unavailable', `data dir ${dataDir} is already open in this process.`);
  }
  let db: DatabaseSync | undefined;
  try {
    // SQLite creates the file (never a Node descriptor: see above); owner-only by path straight after.
    db = new DatabaseSync(file, { timeout: 0 });
    chmodSync(file, 0o600);
    identity = fileIdentity(file);
    if (identity === undefined) throw new Error(`${file} vanished while it was being opened`);
    // Nothing is ever committed, so the journal stays in memory: the only file is coffer.lock, empty.
    db.exec('PRAGMA journal_mode=MEMORY');
    db.exec('PRAGMA locking_mode=EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db?.close();
    if ((err as { errcode?: number }).errcode === sqliteBusy) {
      throw new CofferError(
        'storage_unavailable',
        `another Coffer server (${describeHolder(dataDir)}) is using data dir ${dataDir}; stop it first.`,
      );
    }
    throw unavailable(dataDir, err);
  }
  const key = identity;
  heldHere.set(key, db);
  const info = join(resolve(dataDir), 'coffer.pid');
  try {
    writeHolder(info);
  } catch (err) {
    heldHere.delete(key);
    db.close();
    throw unavailable(dataDir, err);
  }
  const lockDb = db;
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      // Remove the holder's name while still holding the lock, so it never names a successor.
      try {
        unlinkSync(info);
      } catch {
        // Already gone.
      }
      lockDb.close();
      heldHere.delete(key);
    },
  };
}

/** Writes `coffer.pid` (pid, then host name) atomically: a refused starter never reads half of it. */
function writeHolder(info: string): void {
  const temporary = `${info}.${process.pid}.tmp`;
  writeFileSync(temporary, `${process.pid}\n${hostname()}\n`, { mode: 0o600 });
  renameSync(temporary, info);
}

/** "pid N on host H" from `coffer.pid`, as seen in the holder's pid namespace. */
function describeHolder(dataDir: string): string {
  try {
    const [pid, host] = readFileSync(join(resolve(dataDir), 'coffer.pid'), 'utf8').split('\n');
    if (pid !== undefined && /^\d+$/.test(pid)) return host ? `pid ${pid} on host ${host}` : `pid ${pid}`;
  } catch {
    // Not written yet (the holder is starting) or from an older version.
  }
  return 'pid unknown';
}

function unavailable(dataDir: string, err: unknown): CofferError {
  const reason = err instanceof Error ? err.message : String(err);
  return new CofferError('storage_unavailable', `cannot lock data dir ${dataDir}: ${reason}`, { cause: err });
}
