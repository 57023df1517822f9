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
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(perSecond: number, burst: number, clock: Clock) {
    this.#perSecond = perSecond;
    this.#burst = burst;
    this.#clock = clock;
  }

  /** Takes one token for `key`; returns 0 when allowed, else the seconds to wait. */
  take(key: string): number {
    const now = this.#clock.nowMs();
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, atMs: now };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.atMs) / 1000) * this.#perSecond);
    bucket.atMs = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.#remember(key, bucket);
      return 0;
    }
    this.#remember(key, bucket);
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perSecond));
  }

  /** Seconds to wait before `key` may act again, without spending a token (0 when it may). */
  blocked(key: string): number {
    const bucket = this.#buckets.get(key);
    if (!bucket) return 0;
    const tokens = Math.min(
      this.#burst,
      bucket.tokens + ((this.#clock.nowMs() - bucket.atMs) / 1000) * this.#perSecond,
    );
    return tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - tokens) / this.#perSecond));
  }

  #remember(key: string, bucket: { tokens: number; atMs: number }): void {
    if (!this.#buckets.has(key) && this.#buckets.size >= 100_000) {
      // Forget full buckets first: they carry no state worth keeping.
      for (const [k, b] of this.#buckets) if (b.tokens >= this.#burst) this.#buckets.delete(k);
      if (this.#buckets.size >= 100_000) this.#buckets.clear();
    }
    this.#buckets.set(key, bucket);
  }
}
