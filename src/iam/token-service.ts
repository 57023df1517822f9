import { hash as digest, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { errors } from '../core/errors.ts';
import { newUuid } from '../core/ids.ts';
import { formatToken, parseToken } from '../crypto/index.ts';
import type { Storage } from '../storage/storage-types.ts';
import type { Principal } from './principal.ts';
import { findTokenByHash, insertToken, type TokenRow } from './token-repo.ts';

/** SHA-256 of a token: what storage keeps and looks tokens up by. */
export function hashToken(token: string): Buffer {
  // The one-shot digest: no Hash object per call (every authenticated request hashes its token).
  return digest('sha256', token, 'buffer');
}

/** The stored hash of a bearer token; `unauthenticated` when it is not a Coffer token. */
export function bearerHash(bearer: string): Buffer {
  return hashToken(parseOrThrow(bearer));
}

/** A freshly issued token: shown to its owner once. */
export interface IssuedToken {
  /** The token's id (for listing and revoking). */
  readonly id: string;
  /** The token itself. */
  readonly token: string;
  /** The row to store. */
  readonly row: TokenRow;
}

/**
 * Makes a new token for `principal` (not yet stored), expiring after `ttlSeconds` (never when
 * absent) and in any case by `notAfterMs`.
 */
export function mintToken(
  principal: Principal,
  nowMs: number,
  ttlSeconds?: number,
  notAfterMs = Number.POSITIVE_INFINITY,
): IssuedToken {
  const token = formatToken();
  const id = newUuid();
  const expireTimeMs = Math.min(
    ttlSeconds === undefined ? Number.POSITIVE_INFINITY : nowMs + ttlSeconds * 1000,
    notAfterMs,
  );
  return {
    id,
    token,
    row: {
      id,
      principal,
      tokenHash: hashToken(token),
      createTimeMs: nowMs,
      expireTimeMs: expireTimeMs === Number.POSITIVE_INFINITY ? null : expireTimeMs,
      revoked: false,
    },
  };
}

/** What a node remembers about a token it has seen. */
interface CachedToken {
  readonly principal: Principal;
  readonly tokenHash: Buffer;
  readonly expireTimeMs: number | null;
  readonly usable: boolean;
}

const cacheLimit = 100_000;

const invalidToken = () => errors.unauthenticated('The bearer token is invalid.');

/** The token a bearer string is, when it has a Coffer token's form and checksum. */
function parseOrThrow(bearer: string): string {
  const parsed = parseToken(bearer);
  if (!parsed) throw invalidToken();
  return parsed.token;
}

/**
 * Authenticates bearer tokens. Known tokens are cached per node with their principal's state; the
 * cache is dropped on every local revocation or disable and whenever the change log moves (see
 * ChangeWatcher), so a revoked token or disabled account stops working on every node within the
 * watcher's interval.
 */
export class TokenService {
  readonly #storage: Storage;
  readonly #clock: Clock;
  readonly #principalEnabled: (principal: string) => Promise<boolean>;
  // The node's feed lease (CacheInvalidation.fresh): while it has lapsed nothing is cached or served.
  #fresh: () => boolean = () => true;
  #cache = new Map<string, CachedToken>();
  // Bumped by invalidate(): a lookup that started before an invalidation must not fill the new cache.
  #generation = 0;
  readonly #listeners = new Set<() => void>();
  /** `authenticateCached` answered from the cache (hits) or sent the caller to storage (misses); metrics. */
  readonly counts = { hits: 0, misses: 0 };

  constructor(storage: Storage, clock: Clock, principalEnabled: (principal: string) => Promise<boolean>) {
    this.#storage = storage;
    this.#clock = clock;
    this.#principalEnabled = principalEnabled;
  }

  /**
   * Serves cached tokens only while `fresh()` (the node's feed lease, CacheInvalidation.fresh): while
   * it is false every token is looked up and nothing is cached.
   */
  serveWithin(fresh: () => boolean): void {
    this.#fresh = fresh;
  }

  /** Issues and stores a token for `principal` (see `mintToken` for its expiry). */
  async issue(
    principal: Principal,
    ttlSeconds?: number,
    notAfterMs?: number,
  ): Promise<{ id: string; token: string; expireTimeMs: number | null }> {
    const issued = mintToken(principal, this.#clock.nowMs(), ttlSeconds, notAfterMs);
    await this.#storage.write([insertToken(this.#storage.db, issued.row)]);
    return { id: issued.id, token: issued.token, expireTimeMs: issued.row.expireTimeMs };
  }

  /**
   * The principal a bearer token belongs to; `unauthenticated` when the token is malformed, unknown,
   * expired, revoked, or its principal is disabled or gone (one message for all).
   */
  async authenticate(bearer: string): Promise<Principal> {
    const hash = bearerHash(bearer);
    const key = hash.toString('base64');
    let entry = this.#fresh() ? this.#cache.get(key) : undefined;
    if (!entry) {
      const generation = this.#generation;
      const row = await findTokenByHash(this.#storage.db, hash);
      if (!row) throw invalidToken();
      entry = {
        principal: row.principal as Principal,
        tokenHash: row.tokenHash,
        expireTimeMs: row.expireTimeMs,
        usable: !row.revoked && (await this.#principalEnabled(row.principal)),
      };
      // Read before an invalidation (a revocation or disable may have landed since): decide with it
      // this once, but never cache it as fresh.
      if (generation === this.#generation && this.#fresh()) {
        if (this.#cache.size >= cacheLimit) this.#cache.clear();
        this.#cache.set(key, entry);
      }
    }
    return this.#accept(entry, hash);
  }

  /**
   * `authenticate` without a promise when this node has the token cached (the hot path of every
   * guarded request): its principal, or the same `unauthenticated` refusal; undefined when the
   * token must be looked up (then call `authenticate`).
   */
  authenticateCached(bearer: string): Principal | undefined {
    // No format check first: only well-formed tokens are ever cached, so a malformed one misses
    // here and `authenticate` refuses it before any lookup.
    if (!this.#fresh()) {
      this.counts.misses++;
      return undefined;
    }
    const hash = hashToken(bearer);
    const entry = this.#cache.get(hash.toString('base64'));
    if (entry === undefined) {
      this.counts.misses++;
      return undefined;
    }
    this.counts.hits++;
    return this.#accept(entry, hash);
  }

  #accept(entry: CachedToken, hash: Buffer): Principal {
    // The lookup is by a one-way hash; the final comparison is constant-time all the same.
    if (!timingSafeEqual(entry.tokenHash, hash) || !entry.usable) throw invalidToken();
    if (entry.expireTimeMs !== null && entry.expireTimeMs <= this.#clock.nowMs()) throw invalidToken();
    return entry.principal;
  }

  /** Drops every cached token (and what `onInvalidate` listeners cache alongside, e.g. access keys). */
  invalidate(): void {
    this.#generation++;
    this.#cache = new Map();
    for (const listener of this.#listeners) listener();
  }

  /** Calls `listener` whenever the token cache is dropped: caches of credentials follow it. */
  onInvalidate(listener: () => void): void {
    this.#listeners.add(listener);
  }
}
