import type { Kysely } from 'kysely';
import { errors } from '../core/errors.ts';
import { clampPageSize, type Page } from '../core/pagination.ts';
import type { Database } from '../storage/schema.ts';
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
export function resourceRanges(resource: string): { exact?: string; under: [string, string][] } {
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

/** Events matching `query`, newest first, one page at a time (indexed by project, filter and time). */
export async function queryAuditEvents(db: Kysely<Database>, query: AuditQuery): Promise<Page<AuditEvent>> {
  const size = clampPageSize(query.pageSize);
  let q = db.selectFrom('audit_events');
  q =
    query.projectId === null
      ? q.where('project_id', 'is', null)
      : q.where('project_id', '=', query.projectId);
  if (query.action !== undefined) q = q.where('action', '=', query.action);
  if (query.principal !== undefined) q = q.where('principal', '=', query.principal);
  if (query.result !== undefined) q = q.where('result', '=', query.result);
  if (query.requestId !== undefined) q = q.where('request_id', '=', query.requestId);
  if (query.sinceMs !== undefined) q = q.where('time', '>=', query.sinceMs);
  if (query.untilMs !== undefined) q = q.where('time', '<', query.untilMs);
  let ranges: ReturnType<typeof resourceRanges> | undefined;
  if (query.resource !== undefined) {
    // Ranges of plain comparisons, so the (project, resource) index serves them; both engines
    // compare `resource` byte by byte (SQLite's BINARY; PostgreSQL's column is COLLATE "C").
    ranges = resourceRanges(query.resource);
    q = q.where((eb) =>
      eb.or([
        ...(ranges!.exact ? [eb('resource', '=', ranges!.exact)] : []),
        ...ranges!.under.map(([from, to]) => eb.and([eb('resource', '>=', from), eb('resource', '<', to)])),
      ]),
    );
  }
  const cursor = decodeCursor(query.pageToken);
  if (cursor) {
    q = q.where((eb) =>
      eb.or([eb('time', '<', cursor.time), eb.and([eb('time', '=', cursor.time), eb('id', '<', cursor.id)])]),
    );
  }
  let rows;
  if (ranges === undefined) {
    rows = await q
      .selectAll()
      .orderBy('time', 'desc')
      .orderBy('id', 'desc')
      .limit(size + 1)
      .execute();
  } else {
    // Names under a prefix come from the index in name order and must be sorted by time: sort the
    // index entries alone (the index holds time and id), then read only the page's rows.
    const ids = (
      await q
        .select('id')
        .orderBy('time', 'desc')
        .orderBy('id', 'desc')
        .limit(size + 1)
        .execute()
    ).map((row) => row.id);
    rows =
      ids.length === 0
        ? []
        : await db
            .selectFrom('audit_events')
            .selectAll()
            .where('id', 'in', ids)
            .orderBy('time', 'desc')
            .orderBy('id', 'desc')
            .execute();
  }
  const items: AuditEvent[] = rows.slice(0, size).map((row) => ({
    id: row.id,
    timeMs: Number(row.time),
    requestId: row.request_id,
    action: row.action,
    principal: row.principal,
    ...(row.on_behalf_of !== null ? { onBehalfOf: row.on_behalf_of } : {}),
    resource: row.resource,
    ...(row.project_id !== null ? { projectId: row.project_id } : {}),
    result: row.result as AuditResult,
    status: Number(row.status),
    ...(row.source_ip !== null ? { sourceIp: row.source_ip } : {}),
    ...(row.user_agent !== null ? { userAgent: row.user_agent } : {}),
    ...(row.details !== null
      ? { details: JSON.parse(row.details) as Record<string, string | number | boolean> }
      : {}),
  }));
  if (rows.length <= size) return { items };
  const last = items[items.length - 1]!;
  return { items, nextPageToken: Buffer.from(`${last.timeMs}:${last.id}`).toString('base64url') };
}
