import { randomUUID } from 'node:crypto';
import { CofferError } from '../core/errors.ts';

/**
 * Unseal attempts in progress at once; a further start is refused until one ends or expires (each
 * start also spends the caller's unseal rate budget, so filling them takes many addresses).
 */
const maxAttempts = 32;
/** An attempt that receives no share for this long is forgotten. */
const idleExpiryMs = 15 * 60_000;
/** Failed attempts remembered, so a late share holder learns why its nonce no longer works. */
const maxFailedRemembered = 32;

interface Attempt {
  readonly shares: Map<string, Buffer>;
  lastMs: number;
}

/**
 * Shamir unseal attempts, each named by a nonce (as Vault's unseal nonce): the first share starts an
 * attempt and its answer carries the nonce; later shares must carry it. A share without a nonce
 * starts an attempt of its own, so a wrong share sent by someone who was not given the nonce (the
 * unseal route is unauthenticated) can never spoil an unseal in progress. A wrong share fails only
 * the attempt it was given to, when that attempt reaches the threshold; the failure is reported (to
 * the caller and by `failed`), and the attempt takes no more shares.
 */
export class UnsealAttempts {
  readonly #attempts = new Map<string, Attempt>();
  readonly #failed = new Set<string>();

  /** Adds `share` to the attempt `nonce`, or to a new attempt; returns the nonce and the share count. */
  add(share: Buffer, nonce: string | undefined, nowMs: number): { nonce: string; progress: number } {
    this.#expire(nowMs);
    let attempt: Attempt | undefined;
    if (nonce === undefined) {
      if (this.#attempts.size >= maxAttempts) {
        throw new CofferError(
          'conflict',
          `${maxAttempts} unseal attempts are in progress; continue one with its nonce, reset it, or wait until it expires.`,
        );
      }
      nonce = randomUUID();
      attempt = { shares: new Map(), lastMs: nowMs };
      this.#attempts.set(nonce, attempt);
    } else {
      attempt = this.#attempts.get(nonce);
      if (attempt === undefined) throw this.#unknown(nonce);
    }
    attempt.shares.set(share.toString('base64'), share);
    attempt.lastMs = nowMs;
    return { nonce, progress: attempt.shares.size };
  }

  /** The shares of attempt `nonce`, removed from it: the caller combines them. */
  take(nonce: string): Buffer[] {
    const attempt = this.#attempts.get(nonce);
    this.#attempts.delete(nonce);
    return attempt ? [...attempt.shares.values()] : [];
  }

  /** Records that attempt `nonce` failed (its shares did not open the root key). */
  fail(nonce: string): void {
    this.#failed.add(nonce);
    if (this.#failed.size > maxFailedRemembered) {
      const oldest = this.#failed.values().next().value;
      if (oldest !== undefined) this.#failed.delete(oldest);
    }
  }

  /** Shares given to attempt `nonce` so far (0 when unknown). */
  progress(nonce: string | undefined): number {
    return nonce === undefined ? 0 : (this.#attempts.get(nonce)?.shares.size ?? 0);
  }

  /** Whether attempt `nonce` is in progress. */
  has(nonce: string | undefined): boolean {
    return nonce !== undefined && this.#attempts.has(nonce);
  }

  /** Whether attempt `nonce` failed. */
  failed(nonce: string | undefined): boolean {
    return nonce !== undefined && this.#failed.has(nonce);
  }

  /** Abandons attempt `nonce` (`invalid_argument` when it is unknown). */
  reset(nonce: string, nowMs: number): void {
    this.#expire(nowMs);
    if (!this.#attempts.delete(nonce)) throw this.#unknown(nonce);
  }

  /** Forgets every attempt (unsealed, or sealed again). */
  clear(): void {
    for (const attempt of this.#attempts.values()) for (const share of attempt.shares.values()) share.fill(0);
    this.#attempts.clear();
  }

  #expire(nowMs: number): void {
    for (const [nonce, attempt] of this.#attempts) {
      if (nowMs - attempt.lastMs > idleExpiryMs) this.#attempts.delete(nonce);
    }
  }

  #unknown(nonce: string): CofferError {
    return new CofferError(
      'invalid_argument',
      this.#failed.has(nonce)
        ? `Unseal attempt ${nonce} failed (a share was wrong); start a new attempt without a nonce.`
        : `No unseal attempt has the nonce ${nonce} (unknown, finished or expired); start one by giving a share without a nonce.`,
    );
  }
}
