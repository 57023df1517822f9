import { randomUUID } from 'node:crypto';
import { CofferError } from '../core/errors.ts';

/** Unseal attempts in progress at once (from all addresses). */
const maxAttempts = 32;
/**
 * Attempts one source address (an IPv4 address, an IPv6 /64) may have open: a further start from it
 * replaces its oldest, so one address can never hold more than this many of the slots.
 */
const maxPerSource = 2;
/** An attempt ends this long after its first share, however many shares it gets (never extended). */
const lifetimeMs = 15 * 60_000;
/** Ended attempts remembered, so a late share holder learns why its nonce no longer works. */
const maxEndedRemembered = 64;

interface Attempt {
  readonly shares: Map<string, Buffer>;
  /** Who started it (the per-address limiter's key). */
  readonly source: string;
  readonly startMs: number;
  /** Whether its first share was checked against the shares made at init (see SealRecord.shareHashes). */
  readonly verified: boolean;
}

/** Why an attempt ended before it unsealed. */
type Ending = 'failed' | 'replaced' | 'evicted' | 'expired';

const endingText: Record<Ending, string> = {
  failed: 'failed (a share was wrong)',
  replaced: 'was replaced by a newer attempt from the same address',
  evicted: 'was dropped, holding one share, to make room for a new attempt',
  expired: `expired (an attempt lasts ${lifetimeMs / 60_000} minutes from its first share)`,
};

/**
 * Shamir unseal attempts, each named by a nonce (as Vault's unseal nonce): the first share starts an
 * attempt and its answer carries the nonce; later shares must carry it. A share without a nonce
 * starts an attempt of its own, so a wrong share sent by someone who was not given the nonce (the
 * unseal route is unauthenticated) can never spoil an unseal in progress. A wrong share fails only
 * the attempt it was given to, when that attempt reaches the threshold; the failure is reported (to
 * the caller and by `failed`), and the attempt takes no more shares.
 *
 * Nobody can hold the slots for long: an address has at most `maxPerSource` attempts, an attempt
 * lasts a fixed time from its start (a share given twice is refused and extends nothing), and when
 * every slot is taken a new attempt replaces the oldest one that holds a single share, unless that
 * share was verified (a real share) and came from another address: a real holder's attempt is never
 * dropped for someone else's (then the new attempt is refused until a slot frees).
 */
export class UnsealAttempts {
  readonly #attempts = new Map<string, Attempt>();
  readonly #ended = new Map<string, Ending>();

  /**
   * Adds `share` to the attempt `nonce`, or starts a new attempt for `source` (the caller's address);
   * returns the nonce and the share count. `verified`: the share was checked to be one made at init.
   */
  add(
    share: Buffer,
    nonce: string | undefined,
    source: string,
    nowMs: number,
    verified = false,
  ): { nonce: string; progress: number } {
    this.#expire(nowMs);
    if (nonce !== undefined) {
      const attempt = this.#attempts.get(nonce);
      if (attempt === undefined) throw this.#unknown(nonce);
      const id = share.toString('base64');
      if (attempt.shares.has(id)) {
        throw new CofferError(
          'invalid_argument',
          `This share was already given to unseal attempt ${nonce}; each share counts once.`,
        );
      }
      attempt.shares.set(id, share);
      return { nonce, progress: attempt.shares.size };
    }
    this.#makeRoom(source);
    const started = randomUUID();
    this.#attempts.set(started, {
      shares: new Map([[share.toString('base64'), share]]),
      source,
      startMs: nowMs,
      verified,
    });
    return { nonce: started, progress: 1 };
  }

  /** The shares of attempt `nonce`, removed from it: the caller combines them. */
  take(nonce: string): Buffer[] {
    const attempt = this.#attempts.get(nonce);
    this.#attempts.delete(nonce);
    return attempt ? [...attempt.shares.values()] : [];
  }

  /** Records that attempt `nonce` failed (its shares did not open the root key). */
  fail(nonce: string): void {
    this.#end(nonce, 'failed');
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
    return nonce !== undefined && this.#ended.get(nonce) === 'failed';
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

  /** Frees a slot for a new attempt from `source`, or refuses when none may be taken. */
  #makeRoom(source: string): void {
    const mine = [...this.#attempts].filter(([, attempt]) => attempt.source === source);
    if (mine.length >= maxPerSource) {
      this.#drop(mine[0]![0], 'replaced'); // a Map iterates in insertion order: the oldest first
      return;
    }
    if (this.#attempts.size < maxAttempts) return;
    const single = [...this.#attempts].find(
      ([, attempt]) => attempt.shares.size <= 1 && !(attempt.verified && attempt.source !== source),
    );
    if (single === undefined) {
      throw new CofferError(
        'conflict',
        `${maxAttempts} unseal attempts are in progress, each holding several shares or a verified share; continue one with its ` +
          `nonce, or retry when one ends (within ${lifetimeMs / 60_000} minutes).`,
      );
    }
    this.#drop(single[0], 'evicted');
  }

  #expire(nowMs: number): void {
    for (const [nonce, attempt] of this.#attempts) {
      if (nowMs - attempt.startMs >= lifetimeMs) this.#drop(nonce, 'expired');
    }
  }

  #drop(nonce: string, why: Ending): void {
    const attempt = this.#attempts.get(nonce);
    if (attempt === undefined) return;
    for (const share of attempt.shares.values()) share.fill(0);
    this.#attempts.delete(nonce);
    this.#end(nonce, why);
  }

  #end(nonce: string, why: Ending): void {
    this.#ended.delete(nonce);
    this.#ended.set(nonce, why);
    if (this.#ended.size > maxEndedRemembered) {
      const oldest = this.#ended.keys().next().value;
      if (oldest !== undefined) this.#ended.delete(oldest);
    }
  }

  #unknown(nonce: string): CofferError {
    const why = this.#ended.get(nonce);
    return new CofferError(
      'invalid_argument',
      why === undefined
        ? `No unseal attempt has the nonce ${nonce} (unknown or finished); start one by giving a share without a nonce.`
        : `Unseal attempt ${nonce} ${endingText[why]}; start a new attempt without a nonce.`,
    );
  }
}
