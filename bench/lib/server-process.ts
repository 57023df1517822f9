import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A server process pinned to one CPU, with its output kept in a log file. */
export interface PinnedProcess {
  /** Pid of the server itself (taskset execs it, so it is the spawned pid). */
  readonly pid: number;
  readonly logFile: string;
  /** True once the process has exited. */
  readonly exited: () => boolean;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it has exited. */
  readonly stop: (graceMs?: number) => Promise<void>;
  /** The last lines of the log (for error messages). */
  readonly logTail: (lines?: number) => string;
}

const running = new Set<ChildProcess>();

/** Remembers `child` until it exits, so `killAllStarted` can end it. */
export function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

/** Kills every server and wrk this process started and that still runs (used on SIGINT and on errors). */
export function killAllStarted(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `taskset -c <cpu> <command…>` with `env` added to this process's environment; stdout and
 * stderr go to `logFile`.
 */
export function startPinned(
  cpu: number,
  command: readonly string[],
  env: Readonly<Record<string, string>>,
  logFile: string,
  cwd: string,
): PinnedProcess {
  const log = createWriteStream(logFile);
  const child = spawn('taskset', ['-c', String(cpu), ...command], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`cannot start ${command.join(' ')}`);
  running.add(child);
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  let hasExited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      hasExited = true;
      running.delete(child);
      resolve();
    });
  });
  const pid = child.pid;
  return {
    pid,
    logFile,
    exited: () => hasExited,
    async stop(graceMs = 15_000) {
      if (!hasExited) {
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          exitedPromise,
          new Promise<void>((resolve) => {
            timer = setTimeout(() => {
              child.kill('SIGKILL');
              resolve();
            }, graceMs);
          }),
        ]);
        clearTimeout(timer);
        await exitedPromise;
      }
      await new Promise<void>((resolve) => log.end(resolve));
    },
    logTail(lines = 20) {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
  };
}

/** Polls `url` until it answers 200, the process exits, or `timeoutMs` passes. */
export async function waitForOk(url: string, server: PinnedProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (server.exited()) throw new Error(`the server exited before answering ${url}:\n${server.logTail()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `status ${response.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (${last}):\n${server.logTail()}`);
}
