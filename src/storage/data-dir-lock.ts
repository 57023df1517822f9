import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CofferError } from '../core/errors.ts';

/** A held data directory; `release()` removes the pid file (idempotent). */
export interface DataDirLock {
  /** The pid file that marks the directory as used. */
  readonly file: string;
  /** Gives the directory up. */
  release(): void;
}

/** Data directories this process holds: a second open in the same process is refused too. */
const heldHere = new Set<string>();

/**
 * Claims `<dataDir>/coffer.pid` so that a second Coffer process on the same data dir is refused: on
 * SQLite two writers would break the one-writer, group-commit design; on PostgreSQL two servers would
 * share one seal key file and root-token file. A pid file left by a dead process
 * (SIGKILL, power loss) is taken over; so is one naming our own pid, which happens when a container
 * restarts the server as pid 1 again.
 */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  const file = join(resolve(dataDir), 'coffer.pid');
  if (heldHere.has(file)) {
    throw new CofferError('storage_unavailable', `data dir ${dataDir} is already open in this process.`);
  }
  for (let attempt = 0; ; attempt++) {
    if (createExclusively(file, dataDir)) return held(file);
    const owner = readPid(file);
    if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
      throw new CofferError(
        'storage_unavailable',
        `another Coffer server (pid ${owner}) is using data dir ${dataDir}; stop it first ` +
          `(or, if no Coffer server is running, delete ${file}).`,
      );
    }
    if (owner === undefined && attempt < 2) {
      // Empty or half-written: a process may be creating it right now, so give it a moment first.
      pauseMs(50);
      continue;
    }
    // Stale: replace it atomically, then check that no other process replaced it at the same moment.
    const temporary = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, `${process.pid}\n`, { mode: 0o600 });
      renameSync(temporary, file);
    } catch (err) {
      throw unavailable(dataDir, err);
    }
    const now = readPid(file);
    if (now !== process.pid) {
      throw new CofferError(
        'storage_unavailable',
        `another Coffer server (pid ${now ?? 'unknown'}) took over data dir ${dataDir} at the same time.`,
      );
    }
    return held(file);
  }
}

/** Creates the pid file if it does not exist; false when it does. */
function createExclusively(file: string, dataDir: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw unavailable(dataDir, err);
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** A synchronous pause: the lock is taken once, at start, before anything else runs. */
function pauseMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function held(file: string): DataDirLock {
  heldHere.add(file);
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      heldHere.delete(file);
      // Only remove the file while it still names us, never a successor's.
      if (readPid(file) === process.pid) {
        try {
          unlinkSync(file);
        } catch {
          // Already gone.
        }
      }
    },
  };
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Signal 0 checks existence only; EPERM means alive but owned by another user. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function unavailable(dataDir: string, err: unknown): CofferError {
  const reason = err instanceof Error ? err.message : String(err);
  return new CofferError('storage_unavailable', `cannot lock data dir ${dataDir}: ${reason}`, { cause: err });
}
