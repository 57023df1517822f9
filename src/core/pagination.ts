import { CofferError } from './errors.ts';

/** Default and maximum list page sizes (SPEC §4: values above the maximum are clamped). */
export const defaultPageSize = 100;
export const maxPageSize = 1000;

/** A page of a list answer. */
export interface Page<T> {
  /** The items of this page. */
  readonly items: T[];
  /** Token for the next page, absent on the last one. */
  readonly nextPageToken?: string;
}

/** The effective page size for a requested one. */
export function clampPageSize(requested: number | undefined): number {
  if (requested === undefined) return defaultPageSize;
  if (!Number.isInteger(requested) || requested < 1)
    throw new CofferError('invalid_argument', 'pageSize must be a positive integer.');
  return Math.min(requested, maxPageSize);
}

/** Encodes the sort key of the last item into an opaque page token. */
export function encodePageToken(after: string): string {
  return Buffer.from(JSON.stringify({ a: after })).toString('base64url');
}

/** Decodes a page token made by `encodePageToken`; `invalid_argument` when it was not. */
export function decodePageToken(token: string | undefined): string | undefined {
  if (token === undefined || token === '') return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { a?: unknown };
    // No sort key holds a NUL (PostgreSQL refuses one in a text parameter: a forged token would be a 500).
    if (typeof parsed.a === 'string' && !parsed.a.includes('\0')) return parsed.a;
  } catch {
    // fall through to the error below
  }
  throw new CofferError('invalid_argument', 'pageToken is not valid.');
}

/** Builds a page from rows fetched with limit pageSize+1, ordered by `keyOf`. */
export function toPage<T>(rows: T[], pageSize: number, keyOf: (row: T) => string): Page<T> {
  if (rows.length <= pageSize) return { items: rows };
  const items = rows.slice(0, pageSize);
  return { items, nextPageToken: encodePageToken(keyOf(items[items.length - 1]!)) };
}
