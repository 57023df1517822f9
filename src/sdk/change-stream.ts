import { type ChangeEvent, createChangeEventParser, type FeedServerError } from './change-event-parser.ts';
import type { HttpTransport } from './http-transport.ts';
import { CofferApiError } from './sdk-errors.ts';

/** What a change stream tells before it reconnects. */
export interface ReconnectInfo {
  /** Consecutive failed connections so far (1 for the first retry after a drop). */
  readonly attempt: number;
  /** How long it waits before reconnecting. */
  readonly delayMs: number;
  /** Where it resumes (`Last-Event-ID`). */
  readonly cursor: string;
  /** Why: the connection ended, could not be made, or the server answered a retryable error. */
  readonly reason: Error;
}

/** How a change stream reconnects. */
export interface ReconnectOptions {
  /** The first backoff ceiling in ms (default: the server's `retry:`, else 1000); it doubles per failure. */
  readonly baseDelayMs?: number;
  /** The ceiling never grows past this (default 30 s). */
  readonly maxDelayMs?: number;
}

/** Options of `changes.stream()`. */
export interface ChangeStreamOptions {
  /** Deliver changes after this cursor (default: the oldest retained); `latest` follows from now. */
  readonly after?: string;
  /** Only changes on this resource name or below it (a prefix at name boundaries). */
  readonly resource?: string;
  /** Ends the stream: the iteration completes without an error. */
  readonly signal?: AbortSignal;
  /** Called before each reconnect. */
  readonly onReconnect?: (info: ReconnectInfo) => void;
  /** Jittered exponential backoff between reconnects. */
  readonly reconnect?: ReconnectOptions;
  /**
   * A connection that brings nothing, not even the 15 s heartbeat, for this long is dropped and
   * made again (default 35 s).
   */
  readonly idleTimeoutMs?: number;
}

/** The stream's endpoint, resolved by ChangesApi. */
export interface ChangeStreamTarget {
  readonly path: string;
  /** The head cursor now (`list(after: 'latest').nextCursor`), to turn `after: 'latest'` into a cursor. */
  readonly latest: (signal: AbortSignal) => Promise<string>;
}

// Codes that retrying cannot cure: the caller must act (new credentials, resync, a fixed request).
const fatalCodes = new Set(['unauthenticated', 'permission_denied', 'gone', 'invalid_argument', 'not_found']);
const statusOfCode: Readonly<Record<string, number>> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  gone: 410,
  rate_limited: 429,
  sealed: 503,
  storage_unavailable: 503,
};

/** "Equal jitter": uniform in [ceiling/2, ceiling], so a flapping server is never hammered. */
export function reconnectDelayMs(failures: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

/** An error answer worth retrying: overload or an unwell server, never a verdict on the caller. */
function retryable(err: CofferApiError): boolean {
  return !fatalCodes.has(err.code) && (err.status === 429 || err.status >= 500);
}

function serverError(error: FeedServerError, requestId: string): CofferApiError {
  return new CofferApiError(
    statusOfCode[error.code] ?? 500,
    error.code,
    error.message,
    requestId,
    undefined,
    error.details,
  );
}

/** Waits `ms` unless `signal` aborts first (then resolves early: the caller checks the signal). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Follows a project's change feed over Server-Sent Events: resumes after a drop with
 * `Last-Event-ID` = the last cursor received (never delivering a cursor twice), reconnects with
 * jittered exponential backoff reset by each successful connection, and throws what retrying cannot
 * cure (`gone` with `details.oldestCursor`, `unauthenticated`, `permission_denied`, a bad request).
 */
export async function* followChanges(
  http: HttpTransport,
  target: ChangeStreamTarget,
  options: ChangeStreamOptions = {},
): AsyncGenerator<ChangeEvent, void, undefined> {
  const stop = options.signal ?? new AbortController().signal;
  const idleTimeoutMs = options.idleTimeoutMs ?? 35_000;
  const maxDelayMs = options.reconnect?.maxDelayMs ?? 30_000;
  const baseDelayMs = options.reconnect?.baseDelayMs;
  let serverRetryMs = 1000;
  let cursor = options.after;
  let failures = 0;
  if (stop.aborted) return;
  if (cursor === 'latest') {
    try {
      cursor = await target.latest(stop);
    } catch (err) {
      if (stop.aborted) return;
      throw err;
    }
  }
  // The last change handed out; a replayed one (cursor at or below it) is dropped, never delivered twice.
  let delivered = cursor !== undefined && /^\d+$/.test(cursor) ? BigInt(cursor) : -1n;

  while (!stop.aborted) {
    const connection = new AbortController();
    const signal = AbortSignal.any([stop, connection.signal]);
    let idleTimer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(
        () => connection.abort(new Error(`no event or heartbeat for ${idleTimeoutMs} ms`)),
        idleTimeoutMs,
      );
    };
    const queue: ChangeEvent[] = [];
    let ended: CofferApiError | undefined;
    let requestId = '';
    const parser = createChangeEventParser({
      onChange: (change) => {
        // Cursors are decimal integers (docs/changes.md), compared as such.
        const at = BigInt(change.cursor);
        if (at <= delivered) return;
        delivered = at;
        queue.push(change);
        cursor = change.cursor;
      },
      // An `id:` (with or without data) is where a reconnect resumes, as for an EventSource.
      onCursor: (id) => {
        if (/^\d{1,20}$/.test(id)) cursor = id;
      },
      onRetry: (delayMs) => {
        serverRetryMs = delayMs;
      },
      onInvalid: (reason) => {
        ended ??= new CofferApiError(
          200,
          'invalid_response',
          `The change feed broke its contract: ${reason}.`,
          requestId,
        );
      },
      onServerError: (error) => {
        ended ??= serverError(error, requestId);
      },
    });

    let reason: Error;
    try {
      arm();
      const headers: Record<string, string> = cursor !== undefined ? { 'last-event-id': cursor } : {};
      const opened = await http.openStream(
        { method: 'GET', path: target.path, query: { resource: options.resource }, headers },
        signal,
      );
      requestId = opened.requestId;
      const { response } = opened;
      if (!response.ok) throw http.errorOf(response, await response.text(), requestId);
      if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream'))
        throw new CofferApiError(
          response.status,
          'invalid_response',
          'The change feed did not answer an event stream.',
          requestId,
        );
      if (response.body === null)
        throw new CofferApiError(200, 'invalid_response', 'The change feed answered no body.', requestId);
      failures = 0;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          arm();
          parser.feed(value);
          while (queue.length > 0) yield queue.shift()!;
          if (ended !== undefined) break;
        }
      } finally {
        // Also runs when the consumer stops iterating: the connection is closed, not left open.
        connection.abort();
        await reader.cancel().catch(() => undefined);
      }
      if (ended !== undefined) throw ended;
      reason = new Error('the server closed the change stream');
    } catch (err) {
      if (stop.aborted) return;
      // Error answers say whether to retry; anything else (refused, reset, idle, a token provider
      // that failed) is a broken connection, retried with backoff.
      if (err instanceof CofferApiError && !retryable(err)) throw err;
      reason = err instanceof Error ? err : new Error(String(err));
    } finally {
      clearTimeout(idleTimer);
      connection.abort();
    }

    failures++;
    let delayMs = reconnectDelayMs(failures, baseDelayMs ?? serverRetryMs, maxDelayMs);
    // A server that said when to come back is not asked sooner.
    if (reason instanceof CofferApiError && reason.retryAfterSeconds !== undefined)
      delayMs = Math.max(delayMs, reason.retryAfterSeconds * 1000);
    options.onReconnect?.({ attempt: failures, delayMs, cursor: cursor ?? '', reason });
    await pause(delayMs, stop);
  }
}
