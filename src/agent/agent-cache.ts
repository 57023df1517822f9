import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../core/logger.ts';
import {
  CofferApiError,
  type CofferClient,
  CofferConnectionError,
  type SecretValueView,
  secretBytes,
} from '../sdk/index.ts';
import type { AgentMetrics } from './agent-metrics.ts';
import { jitteredBackoffMs } from './backoff.ts';
import { describeReference, referenceKey, type SecretReference } from './secret-reference.ts';

/** One cached secret value, with its answer already serialized for the listener. */
export interface CacheEntry {
  readonly key: string;
  readonly ref: SecretReference;
  /** The server's answer, as the server shapes it. */
  readonly view: SecretValueView;
  /** The value's bytes (`value` as UTF-8, or `binaryValue` decoded). */
  readonly bytes: Buffer;
  /** The JSON body the listener sends, serialized once. */
  readonly body: Buffer;
  /** When the server last answered for it (ms). */
  readonly fetchedAtMs: number;
}

/** What the cache needs from the world. */
export interface AgentCacheDeps {
  readonly client: CofferClient;
  readonly projectId: string;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  readonly nowMs?: () => number;
}

/** Why a fetch failed, in words a log or an HTTP answer can carry (never a value). */
export function fetchErrorCode(err: unknown): string {
  if (err instanceof CofferApiError) return err.code;
  if (err instanceof CofferConnectionError) return 'unavailable';
  return 'internal';
}

/** Whether a failed call may succeed later without anyone acting: the server is away, sealed or overloaded. */
export function isTransient(err: unknown): boolean {
  if (err instanceof CofferConnectionError) return true;
  return (
    err instanceof CofferApiError &&
    (err.status === 429 || err.status >= 500) &&
    err.code !== 'kms_unavailable'
  );
}

/** How many entries one refresh fetches at a time. */
const refreshConcurrency = 4;

/** The server refuses the secret itself (not the agent's credential): it is denied, gone or deleted. */
function refusal(code: string): boolean {
  return code === 'permission_denied' || code === 'not_found' || code === 'failed_precondition';
}

/**
 * Every secret value the agent has served or rendered, kept current by the change feed: `refresh`
 * fetches each affected entry once (concurrent refreshes of one entry coalesce), a read that misses
 * fetches once however many callers wait. While the feed is down, entries age: `staleMs` says by how
 * much, and the listener refuses them past `maxStale`.
 */
export class AgentCache {
  readonly #entries = new Map<string, CacheEntry>();
  readonly #inflight = new Map<string, Promise<CacheEntry>>();
  readonly #refreshing = new Map<string, { again: boolean }>();
  readonly #listeners = new Set<(entry: CacheEntry | undefined, key: string) => void>();
  readonly #deps: AgentCacheDeps;
  readonly #now: () => number;
  /** True while the change feed is connected (every entry is then current). */
  #current = false;
  /** The last moment the feed was known connected. */
  #currentUntilMs = 0;
  /** Entries not known current: a change announced for them, or their revalidation, failed since when. */
  readonly #pending = new Map<string, number>();
  readonly #closing = new AbortController();
  /** Keys dropped because the server refused them: a later successful fetch announces them again. */
  readonly #dropped = new Set<string>();

  constructor(deps: AgentCacheDeps) {
    this.#deps = deps;
    this.#now = deps.nowMs ?? Date.now;
  }

  /** How many entries are held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Every entry held now. */
  entries(): CacheEntry[] {
    return [...this.#entries.values()];
  }

  /** The entry for a key, if held (the listener's fast path). */
  peek(key: string): CacheEntry | undefined {
    return this.#entries.get(key);
  }

  /** The feed connected (true) or dropped (false): from now on entries are current, or age. */
  setCurrent(current: boolean): void {
    if (this.#current && !current) this.#currentUntilMs = this.#now();
    this.#current = current;
  }

  /** Whether the feed is connected. */
  get current(): boolean {
    return this.#current;
  }

  /** Whether every entry is known current (the listener's fast path skips the staleness check). */
  get allCurrent(): boolean {
    return this.#current && this.#pending.size === 0;
  }

  /**
   * How long an entry has not been known current, in ms: since the feed dropped (or since it was
   * fetched, if later), or since a change announced for it, or its revalidation, could not be fetched.
   */
  staleMs(entry: CacheEntry, nowMs = this.#now()): number {
    const pendingSince = this.#pending.get(entry.key);
    const sinceChange = pendingSince === undefined ? 0 : nowMs - pendingSince;
    if (this.#current) return Math.max(0, sinceChange);
    return Math.max(0, sinceChange, nowMs - Math.max(entry.fetchedAtMs, this.#currentUntilMs));
  }

  /** Stops the retries of changed entries. */
  close(): void {
    this.#closing.abort();
  }

  /** The largest staleness of any entry (for /metrics and /health). */
  maxStaleMs(): number {
    if (this.allCurrent || this.#entries.size === 0) return 0;
    const now = this.#now();
    let oldest = 0;
    for (const entry of this.#entries.values()) oldest = Math.max(oldest, this.staleMs(entry, now));
    return oldest;
  }

  /** Calls `listener` after an entry changed value or version (entry) or was dropped (undefined). */
  onChange(listener: (entry: CacheEntry | undefined, key: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The entry for `ref`: from the cache (a hit), or fetched once however many callers ask (a miss). */
  get(ref: SecretReference): Promise<CacheEntry> {
    const key = referenceKey(ref);
    const held = this.#entries.get(key);
    if (held) {
      this.#deps.metrics.hits++;
      return Promise.resolve(held);
    }
    this.#deps.metrics.misses++;
    return this.#fetchOnce(key, ref);
  }

  #fetchOnce(key: string, ref: SecretReference): Promise<CacheEntry> {
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const fetching = this.#fetch(key, ref).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, fetching);
    return fetching;
  }

  async #fetch(key: string, ref: SecretReference): Promise<CacheEntry> {
    const { client, projectId, metrics } = this.#deps;
    const startedMs = performance.now();
    let view: SecretValueView;
    try {
      view = await client.secrets.getSecretValue(
        { projectId, regionId: ref.regionId, instanceId: ref.instanceId, secret: ref.path },
        {
          ...(ref.version !== undefined ? { version: ref.version } : {}),
          ...(ref.stage !== undefined ? { stage: ref.stage } : {}),
        },
        { maxAttempts: 2, timeoutMs: 10_000 },
      );
    } catch (err) {
      const code = fetchErrorCode(err);
      metrics.fetchErrors.inc({ code });
      if (code === 'unauthenticated') metrics.authFailures.inc();
      throw err;
    } finally {
      metrics.fetchSeconds.observe((performance.now() - startedMs) / 1000);
    }
    const bytes = secretBytes(view);
    const entry: CacheEntry = {
      key,
      ref,
      view,
      bytes,
      body: Buffer.from(JSON.stringify(view)),
      fetchedAtMs: this.#now(),
    };
    const before = this.#entries.get(key);
    this.#entries.set(key, entry);
    const changed = before
      ? before.view.version !== view.version || !before.bytes.equals(bytes)
      : this.#dropped.delete(key);
    if (changed) this.#emit(entry, key);
    return entry;
  }

  /**
   * Fetches `ref` once more to learn whether the server still answers it: `kept` (held, with the
   * server's current answer), `dropped` (now denied or gone: no longer served), `unreachable` (no
   * answer, the agent's credential refused, or told to back off: the same for every entry) or
   * `failed` (another error, such as this entry's region answering 503). After either of the last
   * two the entry is kept but no longer known current: it counts stale from the first failure (so
   * `maxStale` applies) until a fetch succeeds.
   */
  async recheck(ref: SecretReference): Promise<'kept' | 'dropped' | 'unreachable' | 'failed'> {
    const key = referenceKey(ref);
    try {
      await this.#fetchOnce(key, ref);
      this.#pending.delete(key);
      return 'kept';
    } catch (err) {
      const code = fetchErrorCode(err);
      if (refusal(code)) {
        this.#drop(key, ref, code);
        return 'dropped';
      }
      if (this.#entries.has(key) && !this.#pending.has(key)) this.#pending.set(key, this.#now());
      const serverWide =
        err instanceof CofferConnectionError ||
        code === 'unauthenticated' ||
        (err instanceof CofferApiError && err.status === 429);
      return serverWide ? 'unreachable' : 'failed';
    }
  }

  /** Stops serving what the server now refuses, and tells the templates and exec. */
  #drop(key: string, ref: SecretReference, code: string): void {
    this.#pending.delete(key);
    if (!this.#entries.delete(key)) return;
    this.#dropped.add(key);
    this.#deps.metrics.dropped.inc({ code });
    this.#deps.logger.warn(
      { secret: describeReference(ref), code },
      'a cached secret can no longer be read; it is dropped from the cache and no longer served',
    );
    this.#emit(undefined, key);
  }

  /**
   * Fetches again every entry `matches` selects, each once (a refresh already running for an entry
   * runs once more after it, never in parallel). A secret now denied or gone is dropped. One whose
   * fetch fails otherwise (the server away, the credential refused) is kept, counted stale from the
   * change, and fetched again with jittered backoff until it succeeds.
   */
  async refresh(matches: (entry: CacheEntry) => boolean): Promise<void> {
    const selected = [...this.#entries.values()].filter(matches);
    // A bounded number at a time: a project-wide change must not fire every fetch at once.
    const worker = async () => {
      for (let entry = selected.shift(); entry; entry = selected.shift()) await this.#refreshEntry(entry);
    };
    await Promise.all(Array.from({ length: Math.min(refreshConcurrency, selected.length) }, worker));
  }

  async #refreshEntry(entry: CacheEntry): Promise<void> {
    const running = this.#refreshing.get(entry.key);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: true };
    this.#refreshing.set(entry.key, state);
    let failures = 0;
    try {
      while (state.again && !this.#closing.signal.aborted) {
        state.again = false;
        try {
          await this.#fetchOnce(entry.key, entry.ref);
          this.#pending.delete(entry.key);
        } catch (err) {
          const code = fetchErrorCode(err);
          if (refusal(code)) {
            // The agent may no longer read it, or it is gone: stop serving what the server refuses.
            this.#drop(entry.key, entry.ref, code);
          } else {
            if (!this.#pending.has(entry.key)) this.#pending.set(entry.key, this.#now());
            if (failures === 0)
              this.#deps.logger.warn(
                { secret: describeReference(entry.ref), code },
                'a changed secret could not be fetched; the cached value is served stale and fetched again',
              );
            const waitMs = jitteredBackoffMs(failures++, 250, 30_000);
            await delay(waitMs, undefined, { signal: this.#closing.signal }).catch(() => undefined);
            if (this.#entries.has(entry.key)) state.again = true;
          }
        }
      }
    } finally {
      this.#refreshing.delete(entry.key);
    }
  }

  #emit(entry: CacheEntry | undefined, key: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(entry, key);
      } catch (err) {
        this.#deps.logger.error({ err: (err as Error).message }, 'a cache change listener failed');
      }
    }
  }
}
