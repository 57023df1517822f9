import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import type { AuditEvent } from './audit-types.ts';

/** The action of the aggregated event. */
export const unauthenticatedAction = 'auth.unauthenticated';

/** The resource the aggregated events name: the system, never a project. */
const systemResource = 'root';

/** Where the aggregated events go (the audit log's `append`). */
export type AppendEvents = (events: readonly AuditEvent[]) => Promise<void>;

interface Tally {
  /** The public route's audit action (`auth.login`…); none for guarded routes refused before authentication. */
  readonly action?: string;
  count: number;
  rateLimited: number;
}

/**
 * Requests refused before their caller was identified (401, or 429 before the token was looked
 * up, on guarded routes; any refusal of an anonymous caller on a public route such as a failed
 * login or unseal share), counted per source address (and public route) and written once a window
 * (a minute) as one system event each: `auth.unauthenticated` with `{count, rateLimited,
 * windowStart}`, plus `action` for a public route. An anonymous client can thus neither write into
 * a project's log nor grow the log faster than one event per address and route per minute. Memory is bounded: beyond `maxAddresses`, further addresses share one overflow tally
 * (an event without a source address, with `overflow: true`).
 */
export class UnauthenticatedAudit {
  readonly #append: AppendEvents;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxAddresses: number;
  /** Keyed by address, or by action and address for public routes. */
  #tallies = new Map<string, Tally & { readonly address: string }>();
  #overflow: Tally = { count: 0, rateLimited: 0 };
  #windowStartMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(append: AppendEvents, clock: Clock, logger: Logger, maxAddresses = 10_000) {
    this.#append = append;
    this.#clock = clock;
    this.#logger = logger;
    this.#maxAddresses = maxAddresses;
    this.#windowStartMs = clock.nowMs();
  }

  /** Counts one refused request from `address` (to the public route `action`); `rateLimited` for a 429. */
  record(address: string, rateLimited: boolean, action?: string): void {
    const key = action === undefined ? address : `${action} ${address}`;
    let tally = this.#tallies.get(key);
    if (!tally) {
      if (this.#tallies.size >= this.#maxAddresses) {
        this.#overflow.count += 1;
        if (rateLimited) this.#overflow.rateLimited += 1;
        return;
      }
      tally = { address, count: 0, rateLimited: 0, ...(action !== undefined ? { action } : {}) };
      this.#tallies.set(key, tally);
    }
    tally.count += 1;
    if (rateLimited) tally.rateLimited += 1;
  }

  /** Tallies (addresses, or address and route) in the current window (bounded by `maxAddresses`). */
  get trackedAddresses(): number {
    return this.#tallies.size;
  }

  /** Writes the current window's tallies as system events and starts a new window. */
  async flush(): Promise<void> {
    const windowStart = new Date(this.#windowStartMs).toISOString();
    const tallies = this.#tallies;
    const overflow = this.#overflow;
    this.#tallies = new Map();
    this.#overflow = { count: 0, rateLimited: 0 };
    this.#windowStartMs = this.#clock.nowMs();
    const nowMs = this.#clock.nowMs();
    const event = (tally: Tally, address: string | undefined): AuditEvent => {
      const id = newTimeOrderedUuid(nowMs);
      return {
        id,
        timeMs: nowMs,
        requestId: id,
        action: unauthenticatedAction,
        principal: 'anonymous',
        resource: systemResource,
        result: 'denied',
        status: 401,
        ...(address !== undefined ? { sourceIp: address } : {}),
        details: {
          ...(tally.action !== undefined ? { action: tally.action } : {}),
          count: tally.count,
          rateLimited: tally.rateLimited,
          windowStart,
          ...(address === undefined ? { overflow: true } : {}),
        },
      };
    };
    const events = [...tallies.values()].map((tally) => event(tally, tally.address));
    if (overflow.count > 0) events.push(event(overflow, undefined));
    if (events.length === 0) return;
    try {
      await this.#append(events);
    } catch (err) {
      // Audit is failing (storage down): the counts are lost, which health already reports.
      this.#logger.warn(
        { err: (err as Error).message, events: events.length },
        'could not record unauthenticated requests',
      );
    }
  }

  /** Flushes every `intervalMs` (a minute in production). */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.flush(), intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and writes what was counted (at shutdown, before the audit log closes). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
