import { createHash, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { errors } from '../core/errors.ts';
import { newUuid } from '../core/ids.ts';
import { formatToken, parseToken } from '../crypto/index.ts';
import type { Storage } from '../storage/storage-types.ts';
import type { Principal } from './principal.ts';
import { findTokenByHash, insertToken, type TokenRow } from './token-repo.ts';

/** SHA-256 of a token: what storage keeps and looks tokens up by. */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
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

/** Makes a new token for `principal` (not yet stored). */
export function mintToken(principal: Principal, nowMs: number, ttlSeconds?: number): IssuedToken {
  const token = formatToken();
  const id = newUuid();
  return {
    id,
    token,
    row: {
      id,
      principal,
      tokenHash: hashToken(token),
      createTimeMs: nowMs,
      expireTimeMs: ttlSeconds === undefined ? null : nowMs + ttlSeconds * 1000,
      revoked: false,
    },
  };
}

/** Authenticates bearer tokens. */
export class TokenService {
  readonly #storage: Storage;
  readonly #clock: Clock;

  constructor(storage: Storage, clock: Clock) {
    this.#storage = storage;
    this.#clock = clock;
  }

  /** Issues and stores a token for `principal`. */
  async issue(principal: Principal, ttlSeconds?: number): Promise<{ id: string; token: string }> {
    const issued = mintToken(principal, this.#clock.nowMs(), ttlSeconds);
    await this.#storage.write([insertToken(this.#storage.db, issued.row)]);
    return { id: issued.id, token: issued.token };
  }

  /**
   * The principal a bearer token belongs to; `unauthenticated` when the token is malformed, unknown,
   * expired or revoked (one message for all, so nothing is learned from the answer).
   */
  async authenticate(bearer: string): Promise<Principal> {
    const parsed = parseToken(bearer);
    if (!parsed) throw errors.unauthenticated('The bearer token is invalid.');
    const hash = hashToken(parsed.token);
    const row = await findTokenByHash(this.#storage.db, hash);
    // The lookup is by a one-way hash; the final comparison is constant-time all the same.
    if (!row || !timingSafeEqual(row.tokenHash, hash) || row.revoked) {
      throw errors.unauthenticated('The bearer token is invalid.');
    }
    if (row.expireTimeMs !== null && row.expireTimeMs <= this.#clock.nowMs()) {
      throw errors.unauthenticated('The bearer token is invalid.');
    }
    return row.principal as Principal;
  }
}
