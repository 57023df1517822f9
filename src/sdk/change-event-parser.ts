import { createParser } from 'eventsource-parser';
import type { ChangeEventView } from '../core/api/changes-schemas.ts';

/** One change of a project's feed: metadata only, never a value. */
export type ChangeEvent = ChangeEventView;

/** What a change-event parser reports. */
export interface ChangeEventParserCallbacks {
  /** A change arrived. */
  readonly onChange: (change: ChangeEvent) => void;
  /**
   * The stream's last event id moved (an `id:` field, with or without data, as the WHATWG
   * EventSource grammar says): where a reconnect resumes from (`Last-Event-ID`).
   */
  readonly onCursor: (cursor: string) => void;
  /** The server asked for this reconnection delay (`retry:`). */
  readonly onRetry?: (delayMs: number) => void;
  /** A message that is not a change (bad JSON or fields); its data is not quoted (never a value, but untrusted). */
  readonly onInvalid: (reason: string) => void;
  /** The server ends the stream with this error (`event: error`, the error body of the API). */
  readonly onServerError: (error: FeedServerError) => void;
}

/** The error the server sent before closing a stream. */
export interface FeedServerError {
  /** Stable code: `unauthenticated`, `gone`, `sealed`… (`unknown` when the body had none). */
  readonly code: string;
  readonly message: string;
  /** The body's other fields, e.g. `oldestCursor` of `gone`. */
  readonly details: Readonly<Record<string, unknown>>;
}

/** Parses a text chunk stream of Server-Sent Events into change events. */
export interface ChangeEventParser {
  /** Feeds the next decoded chunk; chunks may split lines and events anywhere. One parser per connection. */
  feed(chunk: string): void;
}

// Event names a change arrives under: the default `message` (no `event:` field) or `change`.
// Other names are skipped so the server may add kinds without breaking older SDKs.
const changeEventNames = new Set([undefined, 'message', 'change']);

// A change is a few hundred bytes; a longer unterminated line means a broken or hostile stream.
const maxBufferChars = 1_000_000;

function toChange(data: string): ChangeEvent | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return 'its data is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'its data is not an object';
  const change = parsed as Record<string, unknown>;
  for (const field of ['cursor', 'time', 'type', 'resource', 'principal'])
    if (typeof change[field] !== 'string') return `its ${field} is not a string`;
  if (!/^\d{1,20}$/.test(change.cursor as string)) return 'its cursor is not a decimal integer';
  if (change.version !== undefined && typeof change.version !== 'number')
    return 'its version is not a number';
  if (change.stage !== undefined && typeof change.stage !== 'string') return 'its stage is not a string';
  return change as ChangeEvent;
}

function toServerError(data: string): FeedServerError {
  let body: unknown;
  try {
    body = (JSON.parse(data) as { error?: unknown }).error;
  } catch {
    body = undefined;
  }
  if (typeof body !== 'object' || body === null)
    return { code: 'unknown', message: 'The server ended the change stream.', details: {} };
  const { code, message, ...details } = body as Record<string, unknown>;
  return {
    code: typeof code === 'string' ? code : 'unknown',
    message: typeof message === 'string' ? message : 'The server ended the change stream.',
    details,
  };
}

/**
 * A parser of the change feed's `text/event-stream` (the WHATWG EventSource grammar, by
 * eventsource-parser: `data:` over several lines, comments such as the heartbeat, LF, CR or CRLF
 * line ends, a BOM) that turns each message into a ChangeEvent.
 */
export function createChangeEventParser(callbacks: ChangeEventParserCallbacks): ChangeEventParser {
  const parser = createParser({
    maxBufferSize: maxBufferChars,
    onId: (id) => callbacks.onCursor(id),
    onRetry: (delayMs) => callbacks.onRetry?.(delayMs),
    onEvent: (message) => {
      if (message.event === 'error') return callbacks.onServerError(toServerError(message.data));
      if (!changeEventNames.has(message.event)) return;
      const change = toChange(message.data);
      if (typeof change === 'string') callbacks.onInvalid(`a feed event was skipped: ${change}`);
      else callbacks.onChange(change);
    },
    onError: (error) => {
      // Unknown fields and a bad `retry:` are ignored, as the grammar says; only an overflow matters.
      if (error.type === 'max-buffer-size-exceeded') callbacks.onInvalid('a feed line is too long');
    },
  });
  return { feed: (chunk) => parser.feed(chunk) };
}
