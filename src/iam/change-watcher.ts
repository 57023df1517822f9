import type { Logger } from 'pino';
import type { IamRepo } from './iam-repo.ts';

/**
 * Watches the change log and calls `onChange` when it moves, so that every node drops cached
 * decisions (policies, tokens, account states) within `intervalMs` of a change made on any node.
 * Reading the newest sequence number is one indexed query; no PostgreSQL-only feature is needed.
 */
export class ChangeWatcher {
  readonly #repo: IamRepo;
  readonly #intervalMs: number;
  readonly #onChange: () => void;
  readonly #logger: Logger;
  #seen = -1;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(repo: IamRepo, intervalMs: number, onChange: () => void, logger: Logger) {
    this.#repo = repo;
    this.#intervalMs = intervalMs;
    this.#onChange = onChange;
    this.#logger = logger;
  }

  /** Starts polling. */
  start(): void {
    this.#timer = setInterval(() => void this.poll(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Checks once; calls `onChange` if the log moved since the last check. */
  async poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const latest = await this.#repo.latestChange();
      if (latest !== this.#seen) {
        if (this.#seen !== -1) this.#onChange();
        this.#seen = latest;
      }
    } catch (err) {
      // Storage is failing: drop caches so nothing stale is trusted once it returns.
      this.#onChange();
      this.#logger.warn({ err: (err as Error).message }, 'change log unreadable');
    } finally {
      this.#polling = false;
    }
  }

  /** Stops polling. */
  stop(): void {
    clearInterval(this.#timer);
  }
}
