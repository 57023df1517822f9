import type { Clock } from '../core/clock.ts';

/**
 * Token buckets keyed by a string (a principal, a source address, an email). Each key may spend
 * `burst` at once and regains `perSecond` per second. In memory, per node: a cluster of N nodes
 * allows N times the rate, which is the usual trade (Vault's rate limit quotas are per node too).
 */
export class RateLimiter {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #clock: Clock;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();

  /** `maxKeys` bounds the memory: past it, the buckets that hold the least state are forgotten. */
  constructor(perSecond: number, burst: number, clock: Clock, maxKeys = 100_000) {
    this.#perSecond = perSecond;
    this.#burst = burst;
    this.#clock = clock;
    this.#maxKeys = maxKeys;
  }

  /** How many keys have a bucket. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes one token for `key`; returns 0 when allowed, else the seconds to wait. */
  take(key: string): number {
    const now = this.#clock.nowMs();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      // A new key: make room first, then its bucket starts full (updated in place from then on).
      if (this.#buckets.size >= this.#maxKeys) this.#evict();
      bucket = { tokens: this.#burst, atMs: now };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = this.#tokensAt(bucket, now);
      bucket.atMs = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perSecond));
  }

  /** Seconds to wait before `key` may act again, without spending a token (0 when it may). */
  blocked(key: string): number {
    const bucket = this.#buckets.get(key);
    if (!bucket) return 0;
    const tokens = this.#tokensAt(bucket, this.#clock.nowMs());
    return tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - tokens) / this.#perSecond));
  }

  #tokensAt(bucket: { tokens: number; atMs: number }, nowMs: number): number {
    return Math.min(this.#burst, bucket.tokens + ((nowMs - bucket.atMs) / 1000) * this.#perSecond);
  }

  /**
   * Makes room by forgetting the buckets that say least: refilled ones first (a new bucket is the
   * same), then the fullest, the least recently used among equals, down to 90% of the bound (so a
   * sweep runs once per tenth of the bound, not per new key). Clearing all of them instead would
   * hand a blocked key (a guessed email, an address) a fresh burst whenever fresh keys fill the map.
   */
  #evict(): void {
    const now = this.#clock.nowMs();
    const kept: Array<{ key: string; tokens: number; atMs: number }> = [];
    for (const [key, bucket] of this.#buckets) {
      const tokens = this.#tokensAt(bucket, now);
      if (tokens >= this.#burst) this.#buckets.delete(key);
      else kept.push({ key, tokens, atMs: bucket.atMs });
    }
    const target = Math.floor(this.#maxKeys * 0.9);
    if (kept.length <= target) return;
    kept.sort((a, b) => b.tokens - a.tokens || a.atMs - b.atMs);
    for (const { key } of kept.slice(0, kept.length - target)) this.#buckets.delete(key);
  }
}
