/** The source of time. Injected everywhere so tests control expiry, rotation and deletion windows. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
}

/** The real clock. */
export const systemClock: Clock = { nowMs: () => Date.now() };

/** A clock that only moves when told to; for tests. */
export class ManualClock implements Clock {
  #ms: number;
  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#ms = startMs;
  }
  /** Current time in ms. */
  nowMs(): number {
    return this.#ms;
  }
  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    this.#ms += ms;
  }
}

/** RFC 3339 UTC timestamp for a millisecond time. */
export function toRfc3339(ms: number): string {
  return new Date(ms).toISOString();
}
