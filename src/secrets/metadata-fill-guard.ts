import type { CacheInvalidation, Invalidation } from '../storage/cache-invalidation.ts';

/** True when `prefix` is `resource` or a resource name above it (`prefix/…`). */
export function covers(prefix: string, resource: string): boolean {
  return resource === prefix || resource.startsWith(`${prefix}/`);
}

/** Invalidations remembered: a fill that raced with more than this many is discarded. */
export const rememberedInvalidations = 256;

/**
 * The fill protocol of a metadata cache (docs/decisions/0007-metadata-cache.md), per resource: a
 * fill records `start()` before its storage read and stores what it read only if `keeps()` says no
 * invalidation since then could have dropped it. `generation` moves on every invalidation of any
 * resource, so this remembers the last invalidations and keeps a fill that raced only with changes
 * to other resources; with one of its own (or a prefix of it, or `all`), or with more invalidations
 * than it remembers, the fill is discarded (used by its request, never cached).
 */
export class FillGuard {
  readonly #invalidation: CacheInvalidation;
  /** The last invalidations, oldest first, each with the generation it moved to. */
  readonly #recent: Array<{ readonly generation: number; readonly what: Invalidation }> = [];

  constructor(invalidation: CacheInvalidation) {
    this.#invalidation = invalidation;
  }

  /** Records an invalidation (the cache's listener calls it; `generation` has already moved). */
  invalidated(what: Invalidation): void {
    this.#recent.push({ generation: this.#invalidation.generation, what });
    if (this.#recent.length > rememberedInvalidations) this.#recent.shift();
  }

  /** The generation to record before a storage read. */
  start(): number {
    return this.#invalidation.generation;
  }

  /**
   * Whether a fill of `resource` whose read started at `generation` may be stored now. Without a
   * resource (a fill whose dependencies are not one name), only when nothing was invalidated.
   */
  keeps(generation: number, resource?: string): boolean {
    const now = this.#invalidation.generation;
    if (now === generation) return true;
    if (resource === undefined) return false;
    let seen = 0;
    for (const { generation: at, what } of this.#recent) {
      if (at <= generation) continue;
      if (what === 'all') return false;
      for (const name of what) if (covers(name, resource)) return false;
      seen++;
    }
    // Every invalidation since the read started must be one remembered here.
    return seen === now - generation;
  }

  /**
   * Whether a write's own result for `resource` may be stored now: since `generation` (recorded
   * before the write read what it changed), exactly `own` invalidations named `resource` or a name
   * above it (the write's own), none was `all`, and every one is remembered.
   */
  keepsOwn(generation: number, resource: string, own: number): boolean {
    const now = this.#invalidation.generation;
    let seen = 0;
    let covering = 0;
    for (const { generation: at, what } of this.#recent) {
      if (at <= generation) continue;
      if (what === 'all') return false;
      if (what.some((name) => covers(name, resource))) covering++;
      seen++;
    }
    return seen === now - generation && covering === own;
  }
}
