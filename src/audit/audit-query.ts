import type { Kysely } from 'kysely';
import { errors } from '../core/errors.ts';
import { clampPageSize, type Page } from '../core/pagination.ts';
import type { Database } from '../storage/schema.ts';
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

/**
 * An event's place in a query's order (newest first): its record's time and id, then its place in
 * the record (0 for the record's own event, then its companions). For an event of a record of one
 * event this is the order by (time, id) that pages always had, so older page tokens still work.
 */
interface Position {
  readonly time: number;
  readonly recordId: string;
  readonly ordinal: number;
}

function decodeCursor(token: string | undefined): Position | undefined {
  if (!token) return undefined;
  const match = /^(\d{1,16}):([0-9a-f-]{36})(?::(\d{1,4}))?$/.exec(
    Buffer.from(token, 'base64url').toString('utf8'),
  );
  if (!match) throw errors.invalid('pageToken is not valid.');
  return { time: Number(match[1]), recordId: match[2]!, ordinal: Number(match[3] ?? 0) };
}

/** Negative when `a` comes first (newer) in a query's order. */
function comparePositions(a: Position, b: Position): number {
  if (a.time !== b.time) return b.time - a.time;
  if (a.recordId !== b.recordId) return a.recordId < b.recordId ? 1 : -1;
  return a.ordinal - b.ordinal;
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

/** Whether `event` passes every filter of `query`. */
function matcher(query: AuditQuery, ranges: ResourceRanges | undefined): (event: AuditEvent) => boolean {
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
      ranges.under.some(([from, to]) => e.resource >= from && e.resource < to));
}

interface Placed extends Position {
  readonly event: AuditEvent;
}

const maxRecordsPerFetch = 1000;

/**
 * Events matching `query`, newest first, one page at a time. An audit record holds a request's
 * events (docs/decisions/0009-audit-record.md): records are found by their own columns' indexes
 * (which hold each record's first event) and by the companions' query keys (`audit_terms`), each
 * source in record order (time, then id, newest first); every record found is expanded into its
 * events and each event is matched against every filter. Events are ordered by their record's time
 * and id, then by their place in the record. A page is complete once it holds more events than the
 * page size that come before anything a source has not returned yet.
 */
export async function queryAuditEvents(db: Kysely<Database>, query: AuditQuery): Promise<Page<AuditEvent>> {
  const size = clampPageSize(query.pageSize);
  const cursor = decodeCursor(query.pageToken);
  const ranges = query.resource === undefined ? undefined : resourceRanges(query.resource);
  const matches = matcher(query, ranges);
  const window = {
    ...(query.sinceMs !== undefined ? { sinceMs: query.sinceMs } : {}),
    ...(query.untilMs !== undefined ? { untilMs: query.untilMs } : {}),
    ...(cursor ? { atOrBefore: { time: cursor.time, id: cursor.recordId } } : {}),
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
  const events: Placed[] = [];
  let batch = size + 1;
  for (;;) {
    for (const source of sources) {
      if (source.done) continue;
      for (const row of await source.next(batch)) {
        if (seen.has(row.id)) continue;
        seen.add(row.id);
        const time = Number(row.time);
        recordEvents(row).forEach((event, ordinal) => {
          const placed = { time, recordId: row.id, ordinal, event };
          if (matches(event) && (cursor === undefined || comparePositions(placed, cursor) > 0))
            events.push(placed);
        });
      }
    }
    // Anything a source has not returned yet comes after the last record it returned.
    let frontier: Position | undefined;
    for (const source of sources) {
      if (source.done) continue;
      // Every event of the last record returned is in; the records not returned come after it.
      const at = { time: source.lastTimeMs, recordId: source.lastRecordId, ordinal: Number.MAX_SAFE_INTEGER };
      if (frontier === undefined || comparePositions(at, frontier) < 0) frontier = at;
    }
    if (frontier === undefined) break;
    let final = 0;
    for (const placed of events) if (comparePositions(placed, frontier) < 0) final += 1;
    if (final > size) break;
    batch = Math.min(batch * 2, maxRecordsPerFetch);
  }
  events.sort(comparePositions);
  const items = events.slice(0, size).map((placed) => placed.event);
  if (events.length <= size) return { items };
  const last = events[size - 1]!;
  const token = `${last.time}:${last.recordId}${last.ordinal > 0 ? `:${last.ordinal}` : ''}`;
  return { items, nextPageToken: Buffer.from(token).toString('base64url') };
}
