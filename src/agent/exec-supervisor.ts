import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:os';
import type { Logger } from '../core/logger.ts';
import type { AgentMetrics } from './agent-metrics.ts';

const forwardedSignals: readonly NodeJS.Signals[] = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
];

/** A command the agent runs with secrets in its environment. */
export interface ExecSupervisorDeps {
  readonly argv: readonly string[];
  readonly onChange: 'restart' | 'none' | { readonly signal: NodeJS.Signals };
  readonly graceMs: number;
  /** The variables to add, read from the cache at each (re)start. */
  readonly environment: () => Promise<Record<string, string>>;
  readonly logger: Logger;
  readonly metrics: AgentMetrics;
}

/** A start failure the agent reports with the exit code a shell would use (127 not found, 126 other). */
export class ExecStartError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = 'ExecStartError';
    this.exitCode = exitCode;
  }
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  // As shells report it: 128 + the signal's number when the command was killed by one.
  return code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

/**
 * Runs the exec command: starts it with the variables, forwards the agent's signals to it, and
 * resolves `exited` with its exit code when it ends on its own. On `changed()` it restarts it
 * (SIGTERM, `graceMs`, SIGKILL, start again with fresh values), sends it the configured signal, or
 * does nothing, as `onChange` says. Changes during a restart coalesce into one more restart.
 */
export class ExecSupervisor {
  readonly #deps: ExecSupervisorDeps;
  #child: ChildProcess | undefined;
  #restarting: Promise<void> | undefined;
  #again = false;
  #stopping = false;
  #debounce: NodeJS.Timeout | undefined;
  #resolveExit!: (code: number) => void;
  #rejectExit!: (err: Error) => void;
  /** Resolves with the code to exit with once the command ended by itself or after a forwarded signal. */
  readonly exited: Promise<number>;
  readonly #handlers = forwardedSignals.map((signal) => [signal, () => this.#forward(signal)] as const);

  constructor(deps: ExecSupervisorDeps) {
    this.#deps = deps;
    this.exited = new Promise((resolve, reject) => {
      this.#resolveExit = resolve;
      this.#rejectExit = reject;
    });
  }

  /** Starts the command (throws ExecStartError when it cannot start) and begins forwarding signals. */
  async start(): Promise<void> {
    await this.#spawn();
    for (const [signal, handler] of this.#handlers) process.on(signal, handler);
  }

  /**
   * A secret the command reads (or a rendered file) changed. Calls within 50 ms coalesce, so that one
   * put that changes a variable and a file restarts the command once.
   */
  changed(): void {
    if (this.#deps.onChange === 'none' || this.#stopping || this.#debounce) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      this.#apply();
    }, 50);
  }

  #apply(): void {
    const onChange = this.#deps.onChange;
    if (onChange === 'none' || this.#stopping) return;
    if (onChange !== 'restart') {
      this.#deps.logger.info({ signal: onChange.signal }, 'a secret changed; signalling the command');
      this.#child?.kill(onChange.signal);
      return;
    }
    if (this.#restarting) {
      this.#again = true;
      return;
    }
    this.#restarting = this.#restart().finally(() => {
      this.#restarting = undefined;
    });
  }

  /** Stops forwarding signals (and drops a pending change). */
  detach(): void {
    clearTimeout(this.#debounce);
    for (const [signal, handler] of this.#handlers) process.off(signal, handler);
  }

  #forward(signal: NodeJS.Signals): void {
    if (signal === 'SIGINT' || signal === 'SIGTERM' || signal === 'SIGQUIT') this.#stopping = true;
    if (this.#child && this.#child.exitCode === null && this.#child.signalCode === null)
      this.#child.kill(signal);
  }

  async #restart(): Promise<void> {
    do {
      this.#again = false;
      const child = this.#child;
      this.#child = undefined;
      if (child && child.exitCode === null && child.signalCode === null) {
        this.#deps.logger.info('a secret changed; restarting the command');
        const ended = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), this.#deps.graceMs);
        await ended;
        clearTimeout(timer);
      }
      if (this.#stopping) return;
      this.#deps.metrics.execRestarts.inc();
      try {
        await this.#spawn();
      } catch (err) {
        this.#rejectExit(err as Error);
        return;
      }
    } while (this.#again);
  }

  async #spawn(): Promise<void> {
    const argv = this.#deps.argv;
    const extra = await this.#deps.environment();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env: { ...process.env, ...extra } });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new ExecStartError(
            `cannot start ${argv[0]}: ${err.code === 'ENOENT' ? 'command not found' : (err.code ?? err.message)}`,
            err.code === 'ENOENT' ? 127 : 126,
          ),
        ),
      );
    });
    this.#child = child;
    child.on('exit', (code, signal) => {
      // A child stopped for a restart is not the command ending.
      if (this.#child !== child) return;
      this.#child = undefined;
      this.#resolveExit(exitCodeOf(code, signal));
    });
  }
}
