import { spawn } from 'node:child_process';

/** How a template's command ended. */
export type CommandOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Runs a template's command after its file changed: an argv list as is, a string through
 * `/bin/sh -c`. Its output goes to the agent's stderr; it is stopped (SIGTERM, then SIGKILL 2 s
 * later) when it runs past `timeoutMs`. Never throws: the outcome says what went wrong.
 */
export function runTemplateCommand(
  command: readonly string[] | string,
  timeoutMs: number,
): Promise<CommandOutcome> {
  const argv = typeof command === 'string' ? ['/bin/sh', '-c', command] : command;
  return new Promise((resolve) => {
    let timedOut = false;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 2, 2] });
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 2_000);
    }, timeoutMs);
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      resolve({ ok: false, reason: `cannot start ${argv[0]} (${err.code ?? err.message})` });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      if (timedOut) resolve({ ok: false, reason: `timed out after ${timeoutMs} ms` });
      else if (code === 0) resolve({ ok: true });
      else resolve({ ok: false, reason: signal ? `killed by ${signal}` : `exit code ${code}` });
    });
  });
}
