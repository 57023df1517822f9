import { randomUUID } from 'node:crypto';
import { CofferApiError, CofferConnectionError } from './sdk-errors.ts';

/** How retries back off: exponential with full jitter, never sooner than a `Retry-After`. */
export interface RetryOptions {
  /** Attempts in all, the first included (default 4; 1 disables retries). */
  readonly maxAttempts?: number;
  /** The first backoff ceiling in ms (default 100); it doubles per attempt. */
  readonly baseDelayMs?: number;
  /** The backoff ceiling never grows past this (default 5000 ms). */
  readonly maxDelayMs?: number;
  /**
   * A `Retry-After` longer than this is not waited for: the error is thrown at once (default 30 s).
   * A retry is never sent sooner than the server asked.
   */
  readonly maxRetryAfterMs?: number;
}

/** How to reach a server. */
export interface ClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:8270`. */
  readonly address: string;
  /** Bearer token, for authenticated routes. */
  readonly token?: string | undefined;
  /**
   * Where each attempt gets its bearer token instead of a fixed `token` (e.g.
   * `serviceAccountKeyTokenProvider(keyFile, { address })`, which renews before expiry).
   */
  readonly tokenProvider?: (() => Promise<string>) | undefined;
  /** Per-attempt timeout in ms (default 30 s). */
  readonly timeoutMs?: number;
  /** Retry policy for 429, 503 and network errors. */
  readonly retry?: RetryOptions;
  /** Sent as `User-Agent` (default `coffer-sdk`). */
  readonly userAgent?: string;
  /** The fetch to use (default the global one); tests and proxies inject their own. */
  readonly fetch?: typeof fetch;
}

/** Per-call options every SDK method accepts last. */
export interface CallOptions {
  /** Aborts the call, retries included. */
  readonly signal?: AbortSignal;
  /** Overrides the client's per-attempt timeout. */
  readonly timeoutMs?: number;
  /** The `X-Request-Id` to send (default a fresh UUID per call, the same on every retry of it). */
  readonly requestId?: string;
  /** Overrides the client's retry attempts for this call. */
  readonly maxAttempts?: number;
}

/** One logical request. */
export interface RequestSpec {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path from the server root, already encoded, e.g. `/v2/projects/p`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  /** An `Idempotency-Key` sent on every attempt of this call. */
  readonly idempotencyKey?: string;
  /** A POST whose repetition is harmless (crypto operations, reads by POST): retried on network errors. */
  readonly idempotent?: boolean;
  readonly headers?: Readonly<Record<string, string>>;
}

const retryableStatuses = new Set([429, 503]);
// Proxies answer these for a backend that is restarting; only idempotent calls retry on them.
const gatewayStatuses = new Set([502, 504]);

/** Waits `ms`, or rejects when `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Parses `Retry-After` (seconds or an HTTP date) into ms; undefined when absent or unreadable. */
export function parseRetryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

function networkDetail(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message ?? 'connection failed';
}

/**
 * Sends requests to one server: bearer token, JSON in and out, an `X-Request-Id` per call, a timeout
 * per attempt, and retries with exponential backoff and full jitter on 429, 503 (except
 * `kms_unavailable`, a configuration fact) and — for idempotent calls only — network errors and
 * timeouts, so a retry never repeats a write the server may have applied.
 */
export class HttpTransport {
  readonly address: string;
  readonly #token: string | undefined;
  readonly #tokenProvider: (() => Promise<string>) | undefined;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #userAgent: string;
  readonly #fetch: typeof fetch;

  constructor(options: ClientOptions) {
    this.address = options.address.replace(/\/+$/, '');
    if (options.token && options.tokenProvider)
      throw new Error('give either token or tokenProvider, not both');
    this.#token = options.token;
    this.#tokenProvider = options.tokenProvider;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#maxAttempts = Math.max(1, options.retry?.maxAttempts ?? 4);
    this.#baseDelayMs = options.retry?.baseDelayMs ?? 100;
    this.#maxDelayMs = options.retry?.maxDelayMs ?? 5_000;
    this.#maxRetryAfterMs = options.retry?.maxRetryAfterMs ?? 30_000;
    this.#userAgent = options.userAgent ?? 'coffer-sdk';
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** True when a token or a token provider was configured. */
  get hasToken(): boolean {
    return Boolean(this.#token) || this.#tokenProvider !== undefined;
  }

  /** Sends one logical request (with retries) and decodes its JSON answer; 204 gives `undefined`. */
  async send<T>(spec: RequestSpec, options: CallOptions = {}): Promise<T> {
    const requestId = options.requestId ?? randomUUID();
    const maxAttempts = Math.max(1, options.maxAttempts ?? this.#maxAttempts);
    const idempotent =
      spec.idempotent === true ||
      spec.idempotencyKey !== undefined ||
      spec.method === 'GET' ||
      spec.method === 'PUT' ||
      spec.method === 'DELETE';
    const url = this.#url(spec);
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.#userAgent,
      'x-request-id': requestId,
      ...spec.headers,
    };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (spec.idempotencyKey !== undefined) headers['idempotency-key'] = spec.idempotencyKey;
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    if (body !== undefined) headers['content-type'] = 'application/json';

    for (let attempt = 1; ; attempt++) {
      const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      let response: Response;
      let text: string;
      // Asked per attempt: a retry after a long wait sends a renewed token.
      if (this.#tokenProvider) headers.authorization = `Bearer ${await this.#tokenProvider()}`;
      try {
        response = await this.#fetch(url, {
          method: spec.method,
          headers,
          ...(body !== undefined ? { body } : {}),
          signal,
        });
        text = await response.text();
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason as Error;
        const timedOut = timeout.aborted;
        if (idempotent && attempt < maxAttempts) {
          await sleep(this.#backoffMs(attempt), options.signal);
          continue;
        }
        throw new CofferConnectionError(
          timedOut ? 'timeout' : 'network',
          this.address,
          requestId,
          attempt,
          timedOut ? `${timeoutMs} ms` : networkDetail(err),
          err,
        );
      }
      if (response.ok) return this.#decode<T>(response, text);

      const error = this.#apiError(response, text, requestId);
      const retryable =
        (retryableStatuses.has(response.status) && error.code !== 'kms_unavailable') ||
        (idempotent && gatewayStatuses.has(response.status));
      if (!retryable || attempt >= maxAttempts) throw error;
      const retryAfterMs = parseRetryAfterMs(response.headers.get('retry-after'), Date.now());
      if (retryAfterMs !== undefined && retryAfterMs > this.#maxRetryAfterMs) throw error;
      await sleep(Math.max(retryAfterMs ?? 0, this.#backoffMs(attempt)), options.signal);
    }
  }

  /** Full jitter: a uniform delay between 0 and min(max, base·2^(attempt-1)). */
  #backoffMs(attempt: number): number {
    const ceiling = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
    return Math.random() * ceiling;
  }

  #url(spec: RequestSpec): string {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(spec.query ?? {}))
      if (value !== undefined) query.set(name, String(value));
    return `${this.address}${spec.path}${query.size > 0 ? `?${query}` : ''}`;
  }

  #decode<T>(response: Response, text: string): T {
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CofferApiError(
        response.status,
        'invalid_response',
        `The server answered ${response.status} with a body that is not JSON.`,
        response.headers.get('x-request-id') ?? undefined,
      );
    }
  }

  /** The CofferApiError of a non-2xx answer whose body text was read. */
  errorOf(response: Response, text: string, requestId: string): CofferApiError {
    return this.#apiError(response, text, requestId);
  }

  /**
   * Opens a long-lived GET whose body the caller reads as it arrives (Server-Sent Events): one
   * attempt, no per-attempt timeout (`signal` bounds it), answered whatever its status. A network
   * failure throws CofferConnectionError.
   */
  async openStream(
    spec: RequestSpec,
    signal: AbortSignal,
  ): Promise<{ response: Response; requestId: string }> {
    const requestId = randomUUID();
    const headers: Record<string, string> = {
      accept: 'text/event-stream',
      'user-agent': this.#userAgent,
      'x-request-id': requestId,
      ...spec.headers,
    };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    // Asked per connection: a reconnect hours later sends a renewed token.
    if (this.#tokenProvider) headers.authorization = `Bearer ${await this.#tokenProvider()}`;
    try {
      const response = await this.#fetch(this.#url(spec), { method: spec.method, headers, signal });
      return { response, requestId };
    } catch (err) {
      if (signal.aborted) throw signal.reason as Error;
      throw new CofferConnectionError('network', this.address, requestId, 1, networkDetail(err), err);
    }
  }

  #apiError(response: Response, text: string, requestId: string): CofferApiError {
    let error: { code?: string; message?: string; requestId?: string } | undefined;
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error;
    } catch {
      error = undefined;
    }
    const {
      code,
      message,
      requestId: answeredId,
      ...details
    } = typeof error === 'object' && error !== null ? error : {};
    const retryAfterMs = parseRetryAfterMs(response.headers.get('retry-after'), Date.now());
    return new CofferApiError(
      response.status,
      code ?? (response.status === 404 ? 'not_found' : 'unknown'),
      message ?? `HTTP ${response.status} ${response.statusText}`.trim(),
      answeredId ?? response.headers.get('x-request-id') ?? requestId,
      retryAfterMs === undefined ? undefined : Math.ceil(retryAfterMs / 1000),
      details,
    );
  }
}
