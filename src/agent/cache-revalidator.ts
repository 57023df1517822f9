import type { Logger } from '../core/logger.ts';
import type { AgentCache } from './agent-cache.ts';
import type { AgentMetrics } from './agent-metrics.ts';
import { referenceKey, type SecretReference } from './secret-reference.ts';

/** What the periodic revalidation needs. */
export interface CacheRevalidatorDeps {
  readonly cache: AgentCache;
  /** `cache.revalidate`: every entry is fetched again at least this often. */
  readonly intervalMs: number;
  /** The references templates and exec read: fetched again after a drop, so they return once readable. */
  readonly wanted: () => readonly SecretReference[];
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  readonly nowMs?: () => number;
  readonly random?: () => number;
}

/**
 * The backstop for what the change feed cannot show: the feed hides changes its reader may no
 * longer see (a lost grant, a purge), and a time-bound grant that expires writes no change at all.
 * Every `intervalMs` (jittered, so that agents started together spread out) one pass fetches each
 * cached entry again, one at a time; an entry the server now refuses (403, 404, a deleted secret)
 * is dropped and the listener answers what the server answers. Entries fetched within the last half
 * interval (a change refreshed them) are skipped. A server that does not answer (or refuses the
 * agent's credential) ends the pass early, and the next pass starts after the entry it stopped at,
 * so that no entry is starved; an entry whose own fetch fails (its region answers 503) is counted
 * stale and the pass goes on.
 */
export class CacheRevalidator {
  readonly #deps: CacheRevalidatorDeps;
  readonly #now: () => number;
  readonly #random: () => number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Where the next pass starts in its list of due entries (rotates, so no entry is always last). */
  #next = 0;

  constructor(deps: CacheRevalidatorDeps) {
    this.#deps = deps;
    this.#now = deps.nowMs ?? Date.now;
    this.#random = deps.random ?? Math.random;
  }

  /** Starts the passes in the background. */
  start(): void {
    this.#stopped = false;
    this.#schedule();
  }

  /**
   * Stops the passes. A pass running stops after its current fetch; it is not waited for, so that a
   * server that does not answer never holds up the agent's exit.
   */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#stopped) return;
    const waitMs = this.#deps.intervalMs * (0.8 + 0.2 * this.#random());
    this.#timer = setTimeout(() => {
      void this.pass()
        .catch((err: unknown) =>
          // The name only: an error's message is never logged here (it could quote anything).
          this.#deps.logger.error({ error: (err as Error).name }, 'a revalidation pass failed'),
        )
        .finally(() => this.#schedule());
    }, waitMs);
    this.#timer.unref();
  }

  /** One pass: every entry not fetched within half an interval, and every wanted reference not held. */
  async pass(): Promise<void> {
    const { cache, intervalMs, metrics, logger } = this.#deps;
    const now = this.#now();
    const due = new Map<string, SecretReference>();
    for (const entry of cache.entries())
      if (now - entry.fetchedAtMs >= intervalMs / 2) due.set(entry.key, entry.ref);
    for (const ref of this.#deps.wanted()) {
      const key = referenceKey(ref);
      if (cache.peek(key) === undefined) due.set(key, ref);
    }
    const refs = [...due.values()];
    const first = refs.length === 0 ? 0 : this.#next % refs.length;
    this.#next = first + 1;
    let dropped = 0;
    for (let i = 0; i < refs.length; i++) {
      if (this.#stopped) return;
      metrics.revalidations.inc();
      const outcome = await cache.recheck(refs[(first + i) % refs.length]!);
      if (outcome === 'dropped') dropped++;
      if (outcome === 'unreachable') {
        this.#next = first + i + 1;
        logger.debug('revalidation paused: the Coffer server does not answer the agent');
        return;
      }
    }
    logger.debug({ checked: due.size, dropped }, 'cached secrets revalidated');
  }
}
