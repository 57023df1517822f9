import { resourcesOfChanges } from './change-log.ts';
import type { WriteStatement } from './storage-types.ts';

/**
 * What to drop: full resource names (an entry is dropped when its resource is one of them or lies
 * under one, `name/…`), or `all`.
 */
export type Invalidation = readonly string[] | 'all';

/** The node's feed follower, as this needs it (change-feed-follower.ts; typed here to avoid a cycle). */
export interface FeedSource {
  subscribe(subscriber: {
    onChanges(rows: readonly { readonly resource: string }[]): void;
    onError?(err: Error): void;
  }): () => void;
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

  /** Moves on every invalidation (of anything). */
  get generation(): number {
    return this.#generation;
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

  /** Follows another node's changes: every batch of feed rows invalidates their resources. */
  follow(follower: FeedSource): () => void {
    return follower.subscribe({
      onChanges: (rows) => this.invalidate(rows.map((row) => row.resource)),
      onError: () => this.invalidate('all'),
    });
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
  /\b(?:insert\s+into|update|delete\s+from|replace\s+into)\s+"?(?:sm_instances|sm_secrets|sm_versions|sm_stages|kms_key_rings|kms_keys|kms_key_versions|projects)\b/i;
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
