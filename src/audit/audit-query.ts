import type { Kysely } from 'kysely';
import { errors } from '../core/errors.ts';
import { clampPageSize, type Page } from '../core/pagination.ts';
import type { Database } from '../storage/schema.ts';
import type { ChainedEventRow } from './audit-chain.ts';
import { recordEvents, termProject } from './audit-record.ts';
import {
  type RecordKey,
  type RecordSource,
  type ResourceRanges,
  recordsByColumns,
  recordsByTerm,
} from './audit-record-sources.ts';
import type { AuditEvent, AuditResult } from './audit-types.ts';

/** Filters of an audit query (SPEC §8). */
export interface AuditQuery {
  /** The project, or null for events that belong to no project. */
  readonly projectId: string | null;
  readonly action?: string;
  readonly principal?: string;
  /**
   * A resource name: matches it and every resource under it (the next character after it is `/`,
   * or `%2F`, a secret path's encoded separator), never a sibling that merely shares the prefix
   * (`…/secrets/config` does not match `…/secrets/config-old`). A value that ends with `/` or `%2F`
   * matches everything that starts with it.
   */
  readonly resource?: string;
  readonly result?: AuditResult;
  readonly requestId?: string;
  readonly sinceMs?: number;
  readonly untilMs?: number;
  readonly pageSize?: number;
  readonly pageToken?: string;
}

function decodeCursor(token: string | undefined): { time: number; id: string } | undefined {
  if (!token) return undefined;
  const match = /^(\d{1,16}):([0-9a-f-]{36})$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!match) throw errors.invalid('pageToken is not valid.');
  return { time: Number(match[1]), id: match[2]! };
}

/** The next string after every string that starts with `prefix` (its last character, plus one). */
function successor(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/** The resource filter as an exact name and half-open ranges of names under it. */
export function resourceRanges(resource: string): ResourceRanges {
  if (resource.endsWith('/') || resource.toUpperCase().endsWith('%2F'))
    return { under: [[resource, successor(resource)]] };
  return {
    exact: resource,
    under: [
      [`${resource}/`, successor(`${resource}/`)],
      [`${resource}%2F`, successor(`${resource}%2F`)],
    ],
  };
}

/** Whether `event` passes every filter of `query` (and lies before the page cursor). */
function matcher(
  query: AuditQuery,
  ranges: ResourceRanges | undefined,
  cursor: { time: number; id: string } | undefined,
): (event: AuditEvent) => boolean {
  return (e) =>
    (e.projectId ?? null) === query.projectId &&
    (query.action === undefined || e.action === query.action) &&
    (query.principal === undefined || e.principal === query.principal) &&
    (query.result === undefined || e.result === query.result) &&
    (query.requestId === undefined || e.requestId === query.requestId) &&
    (query.sinceMs === undefined || e.timeMs >= query.sinceMs) &&
    (query.untilMs === undefined || e.timeMs < query.untilMs) &&
    (ranges === undefined ||
      e.resource === ranges.exact ||
      ranges.under.some(([from, to]) => e.resource >= from && e.resource < to)) &&
    (cursor === undefined || e.timeMs < cursor.time || (e.timeMs === cursor.time && e.id < cursor.id));
}

/** Newest first: by time, then id. */
function newestFirst(a: AuditEvent, b: AuditEvent): number {
  if (a.timeMs !== b.timeMs) return b.timeMs - a.timeMs;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

const maxRecordsPerFetch = 1000;

/**
 * Events matching `query`, newest first, one page at a time. An audit record holds a request's
 * events (docs/decisions/0009-audit-record.md): records are found by their own columns' indexes
 * (which hold each record's first event) and by the companions' query keys (`audit_terms`), each
 * source in record order (time, then id, newest first); every record found is expanded into its
 * events and each event is matched against every filter. A page is complete once it holds more
 * events than the page size that are newer than anything a source has not returned yet.
 */
export async function queryAuditEvents(db: Kysely<Database>, query: AuditQuery): Promise<Page<AuditEvent>> {
  const size = clampPageSize(query.pageSize);
  const cursor = decodeCursor(query.pageToken);
  const ranges = query.resource === undefined ? undefined : resourceRanges(query.resource);
  const matches = matcher(query, ranges, cursor);
  const window = {
    ...(query.sinceMs !== undefined ? { sinceMs: query.sinceMs } : {}),
    ...(query.untilMs !== undefined ? { untilMs: query.untilMs } : {}),
    ...(cursor ? { atOrBeforeMs: cursor.time } : {}),
  };
  const sources: RecordSource[] = [];
  if (query.requestId !== undefined) {
    // Every event of a request is in that request's records (of any project): the request index.
    sources.push(recordsByColumns(db, { requestId: query.requestId, ...window }));
  } else {
    // The most selective key a filter names is the sources' index; the other filters are checked on
    // the records' events (and, for records without companions, already in SQL).
    const key: RecordKey =
      ranges !== undefined
        ? { kind: 'resource', ranges }
        : query.principal !== undefined
          ? { kind: 'principal', value: query.principal }
          : query.action !== undefined
            ? { kind: 'action', value: query.action }
            : { kind: 'project' };
    sources.push(
      recordsByColumns(db, {
        projectId: query.projectId,
        key,
        ...window,
        firstEvent: {
          ...(key.kind !== 'action' && query.action !== undefined ? { action: query.action } : {}),
          ...(key.kind !== 'principal' && query.principal !== undefined
            ? { principal: query.principal }
            : {}),
          ...(key.kind !== 'resource' && ranges !== undefined ? { ranges } : {}),
          ...(query.result !== undefined ? { result: query.result } : {}),
        },
      }),
      recordsByTerm(db, { project: termProject(query.projectId), key, ...window }),
    );
  }
  const seen = new Set<string>();
  const events: AuditEvent[] = [];
  let batch = size + 1;
  for (;;) {
    for (const source of sources) {
      if (source.done) continue;
      for (const row of await source.next(batch)) {
        if (seen.has(row.id)) continue;
        seen.add(row.id);
        for (const event of expand(row)) if (matches(event)) events.push(event);
      }
    }
    // Anything a source has not returned yet is at most as new as the last record it returned.
    let frontier = -Infinity;
    for (const source of sources)
      if (!source.done && source.lastTimeMs > frontier) frontier = source.lastTimeMs;
    if (frontier === -Infinity) break;
    let final = 0;
    for (const event of events) if (event.timeMs > frontier) final += 1;
    if (final > size) break;
    batch = Math.min(batch * 2, maxRecordsPerFetch);
  }
  events.sort(newestFirst);
  const items = events.slice(0, size);
  if (events.length <= size) return { items };
  const last = items[items.length - 1]!;
  return { items, nextPageToken: Buffer.from(`${last.timeMs}:${last.id}`).toString('base64url') };
}

/** A record's events (one for a record without companions). */
function expand(row: ChainedEventRow): AuditEvent[] {
  return recordEvents(row);
}
