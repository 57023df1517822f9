import { CofferError } from '../core/errors.ts';

/** How long a refused stream is told to wait: streams are long-lived, a slot frees when one ends. */
const retryAfterSeconds = 5;

/**
 * Open change streams counted per principal and per source address on this node, so one caller
 * cannot hold thousands of streams (each costs a subscription, timers and visibility checks).
 */
export class ChangeStreamSlots {
  readonly #perPrincipal: number;
  readonly #perAddress: number;
  readonly #byPrincipal = new Map<string, number>();
  readonly #byAddress = new Map<string, number>();

  constructor(limits: { perPrincipal: number; perAddress: number }) {
    this.#perPrincipal = limits.perPrincipal;
    this.#perAddress = limits.perAddress;
  }

  /**
   * Takes a slot for a stream of `principal` from `address`, or throws `rate_limited` (429 with
   * Retry-After) when either holds its limit. Returns the release, to call once when the stream ends.
   */
  acquire(principal: string, address: string): () => void {
    if (
      (this.#byPrincipal.get(principal) ?? 0) >= this.#perPrincipal ||
      (this.#byAddress.get(address) ?? 0) >= this.#perAddress
    )
      throw new CofferError('rate_limited', 'Too many open change streams; close one or retry later.', {
        retryAfterSeconds,
      });
    add(this.#byPrincipal, principal, 1);
    add(this.#byAddress, address, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      add(this.#byPrincipal, principal, -1);
      add(this.#byAddress, address, -1);
    };
  }
}

function add(counts: Map<string, number>, key: string, delta: number): void {
  const next = (counts.get(key) ?? 0) + delta;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}
