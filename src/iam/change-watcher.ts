import type { Logger } from 'pino';
import type { ChangeFeedFollower } from '../storage/change-feed-follower.ts';
import type { ChangeRow } from '../storage/change-log.ts';

/**
 * Change types that never move a cached decision (no policy, principal, token, project or
 * resource existence changes with them): the frequent data changes. Every other type, and any
 * unknown one, drops the caches.
 */
const dataOnly =
  /^(?:version\.(?:added|enabled|disabled|destroyed)|stage\.moved|secret\.rotation_due|key\.rotated|key_version\.[a-z_]+)$/;

/** True when a batch of changes may change what the IAM caches decided. */
export function affectsDecisions(rows: readonly ChangeRow[]): boolean {
  return rows.some((row) => !dataOnly.test(row.type));
}

/**
 * Drops cached decisions (policies, tokens, account states) when the change feed moves, so a change
 * made on any node takes effect on every node within the follower's interval. It is one subscriber
 * of the node's feed follower (the same poll that serves change streams); no PostgreSQL-only
 * feature is needed.
 */
export class ChangeWatcher {
  readonly #follower: ChangeFeedFollower;
  readonly #onChange: () => void;
  readonly #logger: Logger;
  #unsubscribe: (() => void) | undefined;
  #failing = false;

  constructor(follower: ChangeFeedFollower, onChange: () => void, logger: Logger) {
    this.#follower = follower;
    this.#onChange = onChange;
    this.#logger = logger;
  }

  /** Starts following the feed. */
  start(): void {
    this.#unsubscribe = this.#follower.subscribe({
      onChanges: (rows) => {
        this.#failing = false;
        // A put at a high rate must not empty the policy and token caches of every node.
        if (affectsDecisions(rows)) this.#onChange();
      },
      onError: (err) => {
        // Storage is failing: drop caches so nothing stale is trusted once it returns.
        this.#onChange();
        if (!this.#failing) this.#logger.warn({ err: err.message }, 'change feed unreadable');
        this.#failing = true;
      },
    });
  }

  /** Reads the feed in a tick that starts now (sequencing pending changes); drops caches if it moved. */
  poll(): Promise<void> {
    return this.#follower.sync();
  }

  /** Stops following. */
  stop(): void {
    this.#unsubscribe?.();
  }
}
