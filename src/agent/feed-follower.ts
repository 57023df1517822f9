import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../core/logger.ts';
import type { AgentCache, CacheEntry } from './agent-cache.ts';
import type { AgentMetrics } from './agent-metrics.ts';
import { jitteredBackoffMs } from './backoff.ts';

/** One change of the project's feed, as the SDK yields it (metadata only, never a value). */
export interface FeedChange {
  readonly cursor: string;
  readonly time: string;
  readonly type: string;
  readonly resource: string;
}

/**
 * Opens the project's change stream after `after` (the SDK resumes a dropped connection itself and
 * calls `onDrop` before each reconnect).
 */
export type OpenFeed = (after: string, signal: AbortSignal, onDrop: () => void) => AsyncIterable<FeedChange>;

/** What the follower needs. */
export interface FeedFollowerDeps {
  readonly projectId: string;
  readonly open: OpenFeed;
  /** The feed's head cursor now (where to follow from after reading current values). */
  readonly latest: (signal: AbortSignal) => Promise<string>;
  /** Answers when the server is reachable (a cheap unauthenticated call), throws when not. */
  readonly probe: (signal: AbortSignal) => Promise<void>;
  /** How often reachability is checked while the stream is quiet. */
  readonly probeIntervalMs: number;
  readonly cache: AgentCache;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
}

const secretResource = /^projects\/[^/]+\/regions\/([^/]+)\/instances\/[^/]+\/secrets\/([^/]+)(?:\/|$)/;
const instanceResource = /^projects\/[^/]+\/regions\/([^/]+)(?:$|\/(?:instances|keyrings)\/[^/]+(?:\/|$))/;

/**
 * Which cached entries a change may affect. A secret's change (a version, a stage, its policy, its
 * deletion) selects that secret's entries in its region (the feed names the instance by id, the
 * config may name it by name, so any instance of the region counts: at worst one extra fetch); a
 * region, instance or KMS key change (an `iam.policy_changed` on them too) selects the region's
 * entries; a project-level change (its IAM policy) selects all. Service-account and other changes select none.
 */
export function affectedBy(
  change: FeedChange,
  projectId: string,
): ((entry: CacheEntry) => boolean) | undefined {
  const resource = change.resource;
  if (!resource.startsWith(`projects/${projectId}`)) return undefined;
  const secret = secretResource.exec(resource);
  if (secret) {
    let path: string;
    try {
      path = decodeURIComponent(secret[2]!);
    } catch {
      return undefined;
    }
    const regionId = secret[1];
    return (entry) => entry.ref.regionId === regionId && entry.ref.path === path;
  }
  const region = instanceResource.exec(resource);
  if (region) return (entry) => entry.ref.regionId === region[1];
  if (resource === `projects/${projectId}`) return () => true;
  return undefined;
}

/**
 * Follows the project's change feed and refreshes the cached entries each change affects (one fetch
 * per changed secret). A `gone` cursor (older than the server keeps) resyncs: every entry is fetched
 * again and the stream restarts from now. Reachability is probed alongside, so the cache knows when
 * it stops being current (and the listener says how stale it is); failures back off with full jitter.
 */
export class FeedFollower {
  readonly #deps: FeedFollowerDeps;
  readonly #abort = new AbortController();
  #cursor = 'latest';
  /**
   * `up`: connected (or reconnecting after a drop the SDK heals by itself); `dropped`: the connection
   * broke, current again once the server answers; `failed`: the server refused the stream
   * (unauthenticated, permission_denied…), current again only once a reopened stream holds.
   */
  #stream: 'up' | 'dropped' | 'failed' = 'up';
  #probeOk = true;
  #running: Promise<void> | undefined;
  #probeTimer: NodeJS.Timeout | undefined;

  constructor(deps: FeedFollowerDeps) {
    this.#deps = deps;
  }

  /** The head cursor now: call it before reading the values to cache, then `start` from it. */
  latest(): Promise<string> {
    return this.#deps.latest(this.#abort.signal);
  }

  /** Starts following in the background, after `cursor`. */
  start(cursor: string): void {
    this.#cursor = cursor;
    this.#setStream('up');
    this.#running = this.#follow();
    this.#scheduleProbe();
  }

  /** Stops following. */
  async stop(): Promise<void> {
    this.#abort.abort(new Error('agent stopping'));
    clearTimeout(this.#probeTimer);
    await this.#running?.catch(() => undefined);
  }

  #setStream(state: 'up' | 'dropped' | 'failed'): void {
    this.#stream = state;
    this.#deps.cache.setCurrent(this.#stream === 'up' && this.#probeOk);
  }

  #scheduleProbe(): void {
    if (this.#abort.signal.aborted) return;
    this.#probeTimer = setTimeout(() => void this.#probe(), this.#deps.probeIntervalMs);
    this.#probeTimer.unref();
  }

  async #probe(): Promise<void> {
    const timeout = AbortSignal.timeout(Math.max(500, this.#deps.probeIntervalMs));
    try {
      await this.#deps.probe(AbortSignal.any([timeout, this.#abort.signal]));
      if (!this.#probeOk) this.#deps.logger.info('the Coffer server is reachable again');
      this.#probeOk = true;
    } catch {
      if (this.#probeOk && !this.#abort.signal.aborted)
        this.#deps.logger.warn('the Coffer server cannot be reached; cached values are served stale');
      this.#probeOk = false;
    }
    // After a drop, the SDK resumes the stream from its cursor by itself once the server answers.
    this.#setStream(this.#stream === 'dropped' && this.#probeOk ? 'up' : this.#stream);
    this.#scheduleProbe();
  }

  async #follow(): Promise<void> {
    const { metrics, logger } = this.#deps;
    let attempt = 0;
    const onDrop = () => {
      metrics.feedReconnects.inc();
      if (this.#stream === 'up') logger.warn('the change feed dropped; reconnecting');
      if (this.#stream !== 'failed') this.#setStream('dropped');
    };
    while (!this.#abort.signal.aborted) {
      // A stream the server refused counts as held again once a reopened one is not refused at once.
      const held = setTimeout(() => {
        if (this.#stream === 'failed') this.#setStream('up');
      }, 1_000);
      try {
        for await (const change of this.#deps.open(this.#cursor, this.#abort.signal, onDrop)) {
          attempt = 0;
          if (this.#stream !== 'up') this.#setStream('up');
          this.#cursor = change.cursor;
          metrics.feedEvents.inc();
          const timeMs = Date.parse(change.time);
          if (!Number.isNaN(timeMs)) metrics.feedLagSeconds.set(Math.max(0, Date.now() - timeMs) / 1000);
          const matches = affectedBy(change, this.#deps.projectId);
          if (matches) void this.#deps.cache.refresh(matches);
        }
        if (this.#abort.signal.aborted) return;
        // The stream ended without an error: open it again from the last cursor.
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        const code = (err as { code?: unknown }).code;
        if (code === 'gone') {
          logger.warn(
            'the change feed no longer holds the agent’s cursor; every cached secret is fetched again',
          );
          try {
            this.#cursor = await this.#deps.latest(this.#abort.signal);
            await this.#deps.cache.refresh(() => true);
            continue;
          } catch {
            // retried below, with backoff
          }
        }
        this.#setStream('failed');
        if (code === 'unauthenticated') {
          metrics.authFailures.inc();
          logger.error(
            'the server refused the agent’s credential on the change feed (unauthenticated): is the key disabled or deleted, or the token expired? Cached values are served stale',
          );
        } else {
          logger.warn(
            { code: typeof code === 'string' ? code : 'unavailable' },
            'the change feed failed; reopening it',
          );
        }
      } finally {
        clearTimeout(held);
      }
      metrics.feedReconnects.inc();
      await delay(jitteredBackoffMs(attempt++, 500), undefined, { signal: this.#abort.signal }).catch(
        () => undefined,
      );
    }
  }
}
