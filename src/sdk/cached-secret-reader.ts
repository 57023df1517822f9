import type { CallOptions } from './http-transport.ts';
import { CofferApiError, CofferConnectionError } from './sdk-errors.ts';
import { type InstanceRef, type SecretValueView, secretBytes, secretText } from './sdk-types.ts';
import type { SecretsApi, VersionSelector } from './secrets-api.ts';

/** Options of a CachedSecretReader. */
export interface CachedSecretReaderOptions {
  /** Where values come from: a CofferClient (only `secrets.getSecretValue` is used). */
  readonly client: { readonly secrets: Pick<SecretsApi, 'getSecretValue'> };
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
}

interface Entry {
  readonly view: SecretValueView;
  /** The same value as a settled promise, so a hit allocates nothing. */
  readonly settled: Promise<SecretValueView>;
  readonly fetchedAtMs: number;
}

/** True for failures that say nothing about the secret itself: the server or the path to it is unwell. */
function transient(err: unknown): boolean {
  if (err instanceof CofferConnectionError) return true;
  if (err instanceof CofferApiError) return err.status === 429 || err.status >= 500;
  return false;
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
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<SecretValueView>>();
  readonly #stats: Omit<CacheStats, 'size'> = {
    hits: 0,
    staleHits: 0,
    misses: 0,
    coalesced: 0,
    fetches: 0,
    fetchErrors: 0,
    staleOnError: 0,
  };

  constructor(options: CachedSecretReaderOptions) {
    this.#client = options.client;
    this.#instance = options.instance;
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#swrMs = options.staleWhileRevalidateMs ?? 30_000;
    this.#staleIfErrorMs = options.staleIfErrorMs ?? 300_000;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 1000);
    this.#now = options.now ?? Date.now;
    this.#callOptions = options.callOptions;
  }

  /** The value of secret `path` (latest enabled version unless `select` says otherwise). */
  get(path: string, select?: VersionSelector): Promise<SecretValueView> {
    const key =
      select === undefined || (select.version === undefined && select.stage === undefined)
        ? path
        : `${path}\u0000${select.version ?? ''}\u0000${select.stage ?? ''}`;
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
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
    if (this.#inflight.has(key)) this.#stats.coalesced++;
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
    if (path === undefined) {
      this.#entries.clear();
      return;
    }
    for (const key of [...this.#entries.keys()])
      if (key === path || key.startsWith(`${path}\u0000`)) this.#entries.delete(key);
  }

  /** A snapshot of the counters. */
  stats(): CacheStats {
    return { ...this.#stats, size: this.#entries.size };
  }

  /** One read per key at a time: concurrent callers share the promise of the read in flight. */
  #fetch(key: string, path: string, select: VersionSelector | undefined): Promise<SecretValueView> {
    const inflight = this.#inflight.get(key);
    if (inflight !== undefined) return inflight;
    this.#stats.fetches++;
    const read = this.#client.secrets
      .getSecretValue({ ...this.#instance, secret: path }, select ?? {}, this.#callOptions)
      .then(
        (view) => {
          this.#store(key, view);
          return view;
        },
        (err: unknown) => {
          this.#stats.fetchErrors++;
          // A denial or a deleted secret must take effect now, not after a stale window.
          if (!transient(err)) this.#entries.delete(key);
          throw err;
        },
      )
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, read);
    return read;
  }

  #store(key: string, view: SecretValueView): void {
    this.#entries.delete(key);
    this.#entries.set(key, { view, settled: Promise.resolve(view), fetchedAtMs: this.#now() });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }
}
