import type { ChangeEvent } from './change-event-parser.ts';
import { pause, reconnectDelayMs } from './change-stream.ts';
import type { ChangesApi } from './changes-api.ts';
import type { CallOptions } from './http-transport.ts';
import { secretChangeScope } from './secret-change-scope.ts';
import { CofferApiError, CofferConnectionError } from './sdk-errors.ts';
import { type InstanceRef, type SecretValueView, secretBytes, secretText } from './sdk-types.ts';
import type { SecretsApi, VersionSelector } from './secrets-api.ts';

/** Options of a CachedSecretReader. */
export interface CachedSecretReaderOptions {
  /** Where values come from: a CofferClient (`secrets.getSecretValue`; `changes` with `subscribe`). */
  readonly client: {
    readonly secrets: Pick<SecretsApi, 'getSecretValue'>;
    readonly changes?: Pick<ChangesApi, 'list' | 'stream'>;
  };
  /** The instance whose secrets are read. */
  readonly instance: InstanceRef;
  /** How long a value is served without asking the server (default 60 s). */
  readonly ttlMs?: number;
  /**
   * After the TTL, how long the old value is still served at once while one background read
   * refreshes it (default 30 s; 0 disables).
   */
  readonly staleWhileRevalidateMs?: number;
  /**
   * After the TTL, how long the old value may be served when the server cannot be reached or answers
   * 429/5xx (default 5 min; 0 disables). Denials and not-found are never hidden: they evict.
   */
  readonly staleIfErrorMs?: number;
  /** At most this many values are kept; the least recently fetched go first (default 1000). */
  readonly maxEntries?: number;
  /** The clock, in ms (default `Date.now`); tests inject one instead of sleeping. */
  readonly now?: () => number;
  /** Call options for the reads (timeout, attempts). */
  readonly callOptions?: CallOptions;
  /**
   * Follow the project's change feed (started by the first read, stopped by `close()`): a changed
   * secret is re-read at once, and a change of access or of the instance's key makes every value be
   * re-read on its next use. The TTL, coalescing and serve-stale still apply, and cover the time the
   * feed is down.
   */
  readonly subscribe?: boolean;
  /** Told why following the feed failed (it is tried again after a backoff); never carries a value. */
  readonly onFeedError?: (error: Error) => void;
}

/** Counters of a CachedSecretReader. */
export interface CacheStats {
  /** Reads answered from a fresh value. */
  hits: number;
  /** Reads answered from a value past its TTL while it was being refreshed. */
  staleHits: number;
  /** Reads that had to wait for the server. */
  misses: number;
  /** Misses that joined a read already in flight instead of sending their own. */
  coalesced: number;
  /** Reads sent to the server (misses and background refreshes). */
  fetches: number;
  /** Reads from the server that failed. */
  fetchErrors: number;
  /** Reads answered from an expired value because the server failed (serve-stale-on-error). */
  staleOnError: number;
  /** Values held now. */
  size: number;
  /** Changes received from the feed (`subscribe`). */
  feedEvents: number;
  /** Cached values a change made stale: re-read at once (a secret), or on their next use. */
  feedRefreshes: number;
  /** Times the feed was connected again after a drop or a failure. */
  feedReconnects: number;
}

interface Entry {
  readonly view: SecretValueView;
  /** The same value as a settled promise, so a hit allocates nothing. */
  readonly settled: Promise<SecretValueView>;
  readonly fetchedAtMs: number;
  readonly path: string;
  readonly select: VersionSelector | undefined;
  /** A change was seen since it was read: never a hit, only a fallback while the server fails. */
  changed: boolean;
}

interface Read {
  readonly promise: Promise<SecretValueView>;
  /** It began before a change of its secret: its answer is handed to its callers, never stored. */
  outdated: boolean;
}

/** True for failures that say nothing about the secret itself: the server or the path to it is unwell. */
function transient(err: unknown): boolean {
  if (err instanceof CofferConnectionError) return true;
  if (err instanceof CofferApiError) return err.status === 429 || err.status >= 500;
  return false;
}

/** The secret path of a cache key (`path` or `path\u0000version\u0000stage`). */
function pathOf(key: string): string {
  const end = key.indexOf('\u0000');
  return end === -1 ? key : key.slice(0, end);
}

/**
 * Reads secret values through an in-process cache: a TTL, stale-while-revalidate (an expired value
 * is served at once while ONE background read refreshes it), serve-stale-on-error for a bounded
 * time when the server is unreachable, and request coalescing (N concurrent misses of one secret make
 * one HTTP call). Values live only in this process's memory, never on disk.
 */
export class CachedSecretReader {
  readonly #client: CachedSecretReaderOptions['client'];
  readonly #instance: InstanceRef;
  readonly #ttlMs: number;
  readonly #swrMs: number;
  readonly #staleIfErrorMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #callOptions: CallOptions | undefined;
  readonly #subscribe: boolean;
  readonly #onFeedError: ((error: Error) => void) | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Read>();
  readonly #stats: Omit<CacheStats, 'size'> = {
    hits: 0,
    staleHits: 0,
    misses: 0,
    coalesced: 0,
    fetches: 0,
    fetchErrors: 0,
    staleOnError: 0,
    feedEvents: 0,
    feedRefreshes: 0,
    feedReconnects: 0,
  };
  /** Stops the feed; set once it has been started. */
  #feedStop: AbortController | undefined;
  #feedDone: Promise<void> | undefined;
  /** Until the feed knows where it starts, the first reads wait, so no change falls between. */
  #positioning: Promise<void> | undefined;
  #closed = false;

  constructor(options: CachedSecretReaderOptions) {
    this.#client = options.client;
    this.#instance = options.instance;
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#swrMs = options.staleWhileRevalidateMs ?? 30_000;
    this.#staleIfErrorMs = options.staleIfErrorMs ?? 300_000;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 1000);
    this.#now = options.now ?? Date.now;
    this.#callOptions = options.callOptions;
    this.#subscribe = options.subscribe === true;
    this.#onFeedError = options.onFeedError;
    if (this.#subscribe && options.client.changes === undefined)
      throw new TypeError('subscribe: true needs a client with `changes` (a CofferClient)');
  }

  /** The value of secret `path` (latest enabled version unless `select` says otherwise). */
  get(path: string, select?: VersionSelector): Promise<SecretValueView> {
    if (this.#subscribe && this.#feedStop === undefined && !this.#closed) this.#startFeed();
    if (this.#positioning !== undefined) return this.#positioning.then(() => this.get(path, select));
    const key =
      select === undefined || (select.version === undefined && select.stage === undefined)
        ? path
        : `${path}\u0000${select.version ?? ''}\u0000${select.stage ?? ''}`;
    const entry = this.#entries.get(key);
    if (entry !== undefined && !entry.changed) {
      const age = this.#now() - entry.fetchedAtMs;
      if (age < this.#ttlMs) {
        this.#stats.hits++;
        return entry.settled;
      }
      if (age < this.#ttlMs + this.#swrMs) {
        this.#stats.staleHits++;
        this.#fetch(key, path, select).catch(() => undefined);
        return entry.settled;
      }
    }
    this.#stats.misses++;
    if (this.#inflight.get(key)?.outdated === false) this.#stats.coalesced++;
    return this.#fetch(key, path, select).catch((err: unknown) => {
      const stale = this.#entries.get(key);
      if (
        stale !== undefined &&
        transient(err) &&
        this.#now() - stale.fetchedAtMs < this.#ttlMs + this.#staleIfErrorMs
      ) {
        this.#stats.staleOnError++;
        return stale.view;
      }
      throw err;
    });
  }

  /** The value as text (a binary value is decoded as UTF-8). */
  async getText(path: string, select?: VersionSelector): Promise<string> {
    return secretText(await this.get(path, select));
  }

  /**
   * The value parsed as JSON. A value that is not JSON throws a SyntaxError naming the secret only:
   * the parser's own message quotes the text (the secret), so it is neither kept nor chained.
   */
  async getJson<T = unknown>(path: string, select?: VersionSelector): Promise<T> {
    const text = await this.getText(path, select);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new SyntaxError(`The value of secret ${path} is not valid JSON.`);
    }
  }

  /** The value's bytes. */
  async getBytes(path: string, select?: VersionSelector): Promise<Buffer> {
    return secretBytes(await this.get(path, select));
  }

  /** Forgets the cached values of `path` (every version and stage), or of every secret. */
  invalidate(path?: string): void {
    for (const [key, read] of this.#inflight)
      if (path === undefined || pathOf(key) === path) read.outdated = true;
    if (path === undefined) {
      this.#entries.clear();
      return;
    }
    for (const [key, entry] of [...this.#entries]) if (entry.path === path) this.#entries.delete(key);
  }

  /** A snapshot of the counters. */
  stats(): CacheStats {
    return { ...this.#stats, size: this.#entries.size };
  }

  /** Stops following the change feed (values stay cached, kept by their TTL). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#feedStop?.abort();
    await this.#feedDone;
  }

  #startFeed(): void {
    const stop = new AbortController();
    this.#feedStop = stop;
    let positioned!: () => void;
    this.#positioning = new Promise((resolve) => (positioned = resolve));
    this.#feedDone = this.#follow(stop.signal, () => {
      this.#positioning = undefined;
      positioned();
    });
  }

  /** Follows the project's feed until closed; a failure is retried after a backoff, `gone` resyncs. */
  async #follow(signal: AbortSignal, positioned: () => void): Promise<void> {
    const changes = this.#client.changes!;
    const project = { projectId: this.#instance.projectId };
    let cursor: string | undefined;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (cursor === undefined) {
          // One attempt: the first reads wait for it, and a failure is retried below anyway.
          const head = await changes.list(
            project,
            { after: 'latest' },
            { ...this.#callOptions, signal, maxAttempts: 1 },
          );
          cursor = head.nextCursor;
          // Values read before the feed's starting point may predate a change it will not deliver.
          this.#markAll();
          positioned();
        }
        const stream = changes.stream(project, {
          after: cursor,
          signal,
          onReconnect: () => this.#stats.feedReconnects++,
        });
        for await (const change of stream) {
          failures = 0;
          cursor = change.cursor;
          this.#apply(change);
        }
        return;
      } catch (err) {
        positioned();
        if (signal.aborted) return;
        failures++;
        if (err instanceof CofferApiError && err.code === 'gone') {
          // Changes were pruned before this reader saw them: forget everything, follow from now
          // (at once the first time; a server that keeps answering gone is not hammered).
          this.invalidate();
          cursor = undefined;
          if (failures > 1) await pause(reconnectDelayMs(failures - 1, 5_000, 300_000), signal);
        } else {
          this.#onFeedError?.(err instanceof Error ? err : new Error(String(err)));
          await pause(reconnectDelayMs(failures, 5_000, 300_000), signal);
        }
        this.#stats.feedReconnects++;
      }
    }
  }

  #apply(change: ChangeEvent): void {
    this.#stats.feedEvents++;
    const scope = secretChangeScope(this.#instance, change);
    if (scope.kind === 'all') this.#markAll();
    if (scope.kind !== 'secret') return;
    for (const [key, read] of this.#inflight) if (pathOf(key) === scope.path) read.outdated = true;
    for (const [key, entry] of [...this.#entries]) {
      if (entry.path !== scope.path) continue;
      entry.changed = true;
      this.#stats.feedRefreshes++;
      this.#fetch(key, entry.path, entry.select).catch(() => undefined);
    }
  }

  /** Every value may have changed: each is read again on its next use (no storm of reads now). */
  #markAll(): void {
    for (const read of this.#inflight.values()) read.outdated = true;
    for (const entry of this.#entries.values()) {
      if (!entry.changed) this.#stats.feedRefreshes++;
      entry.changed = true;
    }
  }

  /** One read per key at a time: concurrent callers share the read in flight (unless a change outdated it). */
  #fetch(key: string, path: string, select: VersionSelector | undefined): Promise<SecretValueView> {
    const inflight = this.#inflight.get(key);
    if (inflight !== undefined && !inflight.outdated) return inflight.promise;
    this.#stats.fetches++;
    // The callbacks run later (a promise's), when `read` below is set.
    const promise = this.#client.secrets
      .getSecretValue({ ...this.#instance, secret: path }, select ?? {}, this.#callOptions)
      .then(
        (view) => {
          if (!read.outdated) this.#store(key, path, select, view);
          return view;
        },
        (err: unknown) => {
          this.#stats.fetchErrors++;
          // A denial or a deleted secret must take effect now, not after a stale window.
          if (!transient(err) && !read.outdated) this.#entries.delete(key);
          throw err;
        },
      )
      .finally(() => {
        if (this.#inflight.get(key) === read) this.#inflight.delete(key);
      });
    const read: Read = { promise, outdated: false };
    this.#inflight.set(key, read);
    return promise;
  }

  #store(key: string, path: string, select: VersionSelector | undefined, view: SecretValueView): void {
    this.#entries.delete(key);
    this.#entries.set(key, {
      view,
      settled: Promise.resolve(view),
      fetchedAtMs: this.#now(),
      path,
      select,
      changed: false,
    });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }
}
