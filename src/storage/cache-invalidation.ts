import { resourcesOfChanges } from './change-log.ts';
import type { WriteStatement } from './storage-types.ts';

/**
 * What to drop: full resource names (an entry is dropped when its resource is one of them or lies
 * under one, `name/…`), or `all`.
 */
export type Invalidation = readonly string[] | 'all';

/** The node's feed follower, as this needs it (change-feed-follower.ts; typed here to avoid a cycle). */
export interface FeedSource {
  /** The follower's poll interval: the lease is derived from it (`leaseMsFor`). */
  readonly intervalMs?: number;
  subscribe(subscriber: {
    onChanges(rows: readonly { readonly resource: string }[]): void;
    onError?(err: Error): void;
    /** A tick that began at `startedAt` (performance.now()) completed: every change before it was delivered. */
    onTick?(startedAt: number): void;
  }): () => void;
}

/**
 * How long after the start of the follower's last completed tick the caches may still serve hits:
 * 1 s (the "a change made on another node stops being served within 1 s" rule) or, when the poll
 * interval is configured so long that 1 s cannot hold, two intervals and 200 ms (one missed tick).
 */
export function leaseMsFor(intervalMs: number): number {
  return Math.max(1000, 2 * intervalMs + 200);
}

/** A cache's handler of invalidations (synchronous, cheap, never throws). */
export type InvalidationListener = (what: Invalidation) => void;

/**
 * The one invalidation signal of a node's metadata caches (secrets, instances, keys, projects),
 * docs/decisions/0007-metadata-cache.md:
 * - a write of this node invalidates the resources its change records name **before** the write's
 *   promise resolves, so the node that made a change never serves the state before it;
 * - a write that touches cached tables without recording a change (a job) invalidates `all`;
 * - a write whose outcome is unknown (storage failing) invalidates `all`;
 * - a change made on another node arrives through the feed follower (≤ its poll interval);
 * - a feed that cannot be read invalidates `all` (and keeps doing so on each failed tick).
 *
 * `generation` moves on every invalidation: a cache records it before a storage read and stores
 * what it read only if it has not moved, so a read that raced with a change is never cached.
 */
export class CacheInvalidation {
  readonly #listeners = new Set<InvalidationListener>();
  #generation = 0;
  /** With a follower: hits are served only until then (performance.now()); see `fresh`. */
  #leaseUntil = Infinity;
  #leaseMs = Infinity;
  /** False from the lease's expiry (the lease timer) until the next completed tick. */
  #serving = true;
  #timer: NodeJS.Timeout | undefined;

  /**
   * Moves on every invalidation (of anything). While the lease has lapsed (`fresh` false) it moves
   * on every read too, so that no fill is ever stored: a cache reads storage on every lookup.
   */
  get generation(): number {
    if (!this.#serving) this.#generation += 1;
    return this.#generation;
  }

  /**
   * Whether a cache may serve a hit now: always without a follower (one node); with one, only while
   * the follower's last completed tick began less than the lease (`leaseMsFor`) ago, so a feed that
   * stalls or fails never leaves a change made on another node served from a cache. A boolean that
   * the lease timer clears (when it also invalidates `all`): no clock read per lookup (one costs
   * 60–120 ns on a loaded machine and a reveal makes several cached lookups), at the price of the
   * event loop's delay in running that timer.
   */
  get fresh(): boolean {
    return this.#serving;
  }

  /** Adds a cache's listener; returns the function that removes it. */
  subscribe(listener: InvalidationListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Drops `what` from every cache. */
  invalidate(what: Invalidation): void {
    if (what !== 'all' && what.length === 0) return;
    this.#generation += 1;
    for (const listener of this.#listeners) listener(what);
  }

  /**
   * Follows another node's changes: every batch of feed rows invalidates their resources, a failed
   * tick invalidates `all`, and each completed tick renews the lease (`fresh`), which starts now.
   */
  follow(follower: FeedSource, leaseMs = leaseMsFor(follower.intervalMs ?? 100)): () => void {
    this.#leaseMs = leaseMs;
    this.#renew(performance.now());
    return follower.subscribe({
      onChanges: (rows) => this.invalidate(rows.map((row) => row.resource)),
      onError: () => this.invalidate('all'),
      onTick: (startedAt) => this.#renew(startedAt),
    });
  }

  /** A tick that began at `startedAt` completed: hits may be served until `startedAt + lease`. */
  #renew(startedAt: number): void {
    const until = startedAt + this.#leaseMs;
    if (until <= this.#leaseUntil && this.#leaseUntil !== Infinity) return;
    if (until <= performance.now()) return; // A tick that outlasted the lease renews nothing.
    this.#leaseUntil = until;
    this.#serving = true;
    if (this.#timer === undefined) this.#timer = this.#arm();
  }

  /** One unref'd timer at the lease's end: renewed leases re-arm it there, a lapsed one empties the caches. */
  #arm(): NodeJS.Timeout {
    const timer = setTimeout(
      () => {
        this.#timer = undefined;
        if (performance.now() < this.#leaseUntil) {
          this.#timer = this.#arm();
          return;
        }
        this.#serving = false;
        this.invalidate('all');
      },
      Math.max(1, this.#leaseUntil - performance.now()),
    );
    timer.unref();
    return timer;
  }

  /** Invalidates what a committed local unit changed (see the class comment). */
  committed(statements: readonly WriteStatement[]): void {
    const resources = resourcesOfChanges(statements);
    // A unit's change records name what it changed; a unit that changes cached rows and names
    // nothing (a background job) could have changed anything.
    if (resources.size === 0) {
      if (statements.some((s) => touchesCachedTables(s.sql))) this.invalidate('all');
      return;
    }
    this.invalidate([...new Set(resources.values())]);
  }
}

/** Tables whose rows the metadata caches hold. */
const cachedTable =
  /\b(?:insert\s+into|update|delete\s+from|replace\s+into)\s+"?(?:sm_instances|sm_secrets|sm_versions|sm_stages|kms_key_rings|kms_keys|kms_key_versions|projects|iam_service_accounts)\b/i;
const touchCache = new Map<string, boolean>();

/** True when `sql` writes to a table a metadata cache holds rows of (memoized per SQL text). */
export function touchesCachedTables(sql: string): boolean {
  let touches = touchCache.get(sql);
  if (touches === undefined) {
    touches = cachedTable.test(sql);
    if (touchCache.size < 5000) touchCache.set(sql, touches);
  }
  return touches;
}
