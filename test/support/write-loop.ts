/** The parent's side of the crash-test child process (see sqlite-write-loop.ts). */

import { type ChildProcess, spawn } from 'node:child_process';

/** A running write loop. */
export interface WriteLoop {
  /** The child process (kill it with SIGKILL to simulate a crash). */
  readonly process: ChildProcess;
  /** Resolves once the child has opened the storage; rejects if it exits first. */
  readonly ready: Promise<void>;
  /** Resolves when the child has exited. */
  readonly exited: Promise<void>;
  /** The row numbers whose writes the child saw acknowledged. */
  acknowledged(): number[];
}

/** Starts the crash-test child (sqlite-write-loop.ts) on `dataDir`; tracks what it printed. */
export function startWriteLoop(dataDir: string): WriteLoop {
  const script = new URL('./sqlite-write-loop.ts', import.meta.url);
  const child = spawn(process.execPath, [script.pathname, dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let onReady: () => void = () => undefined;
  let onFail: (err: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    if (stdout.startsWith('ready\n')) onReady();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => {
      onFail(new Error(`the write loop exited before it was ready: ${stderr}`));
      resolve();
    });
  });
  return {
    process: child,
    ready,
    exited,
    // Only complete lines: a number cut by the kill was maybe not printed in full.
    acknowledged: () =>
      stdout
        .split('\n')
        .slice(1, -1)
        .map((line) => Number.parseInt(line, 10)),
  };
}
