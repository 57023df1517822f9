import type { ChainedEventRow } from './audit-chain.ts';
import type { AuditEvent, AuditResult } from './audit-types.ts';

/**
 * One audit record per request (docs/decisions/0009-audit-record.md): the request's first event in
 * the row's columns, its other events (companions) in the row's `companions` text, one chain
 * element for all of them. A companion shares the record's chain position, time, request id,
 * source address and user agent; it keeps its own id, action, principal, on-behalf-of, resource,
 * project, result, status and details.
 */

/** A companion as stored: `[id, action, principal, onBehalfOf, resource, projectId, result, status, details]`. */
type StoredCompanion = [
  string,
  string,
  string,
  string | null,
  string,
  string | null,
  string,
  number,
  Record<string, string | number | boolean> | null,
];

/** The `companions` text of a record whose other events are `companions` (null when there are none). */
export function companionsText(companions: readonly AuditEvent[]): string | null {
  if (companions.length === 0) return null;
  const stored: StoredCompanion[] = [];
  for (const c of companions)
    stored.push([
      c.id,
      c.action,
      c.principal,
      c.onBehalfOf ?? null,
      c.resource,
      c.projectId ?? null,
      c.result,
      Number(c.status),
      (c.details as Record<string, string | number | boolean> | undefined) ?? null,
    ]);
  return JSON.stringify(stored);
}

/** The project key of a term: the project, or '' for events of no project. */
export function termProject(projectId: string | null | undefined): string {
  return projectId ?? '';
}

/**
 * The query keys of `companions` that the record's own columns (`primary`'s project, action,
 * principal, resource) do not hold, each once: `[project, term]` with term `a:<action>`,
 * `p:<principal>`, `r:<resource>`, and `o:` for a companion of a project other than the record's (so
 * that project's unfiltered queries find it). Appended to `out` as `project, term` pairs.
 */
export function companionTerms(
  out: unknown[],
  primary: Pick<AuditEvent, 'projectId' | 'action' | 'principal' | 'resource'>,
  companions: readonly AuditEvent[],
  time: number,
  recordId: string,
): void {
  const home = termProject(primary.projectId);
  let seen: Set<string> | undefined;
  const add = (project: string, term: string) => {
    const key = `${project}\u0000${term}`;
    seen ??= new Set();
    if (seen.has(key)) return;
    seen.add(key);
    out.push(project, term, time, recordId);
  };
  for (const c of companions) {
    const project = termProject(c.projectId);
    const same = project === home;
    if (!same) add(project, 'o:');
    if (!same || c.action !== primary.action) add(project, `a:${c.action}`);
    if (!same || c.principal !== primary.principal) add(project, `p:${c.principal}`);
    if (!same || c.resource !== primary.resource) add(project, `r:${c.resource}`);
  }
}

/**
 * The entries of `audit_terms` for a group commit's records: `companionTerms`' `project, term, time,
 * record` quadruples grouped by key, one entry per key listing its records (`termColumns` order:
 * project, term, newest time, first record, oldest time, records as JSON). One entry per key and
 * commit instead of per record: the commit's reveals share their key's action, identity and name.
 */
export function termEntries(quads: readonly unknown[]): unknown[] {
  const byKey = new Map<
    string,
    { project: string; term: string; newest: number; oldest: number; ids: string[] }
  >();
  for (let i = 0; i < quads.length; i += 4) {
    const project = quads[i] as string;
    const term = quads[i + 1] as string;
    const time = quads[i + 2] as number;
    const id = quads[i + 3] as string;
    const key = `${project}\u0000${term}`;
    const entry = byKey.get(key);
    if (entry === undefined) byKey.set(key, { project, term, newest: time, oldest: time, ids: [id] });
    else {
      if (time > entry.newest) entry.newest = time;
      if (time < entry.oldest) entry.oldest = time;
      entry.ids.push(id);
    }
  }
  const out: unknown[] = [];
  for (const e of byKey.values())
    out.push(e.project, e.term, e.newest, e.ids[0], e.oldest, JSON.stringify(e.ids));
  return out;
}

/** The record's first event, as the API shows it. */
function primaryEvent(row: ChainedEventRow): AuditEvent {
  return {
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
  };
}

/** The stored companions of a record (an empty list for a record of one event). */
export function storedCompanions(row: Pick<ChainedEventRow, 'companions'>): StoredCompanion[] {
  if (row.companions === null || row.companions === undefined) return [];
  const parsed = JSON.parse(row.companions) as unknown;
  if (!Array.isArray(parsed)) throw new Error('audit record: companions are not a list');
  return parsed as StoredCompanion[];
}

/** A companion as an event of its own, with the record's time, request, address and user agent. */
export function companionEvent(row: ChainedEventRow, c: StoredCompanion): AuditEvent {
  const [id, action, principal, onBehalfOf, resource, projectId, result, status, details] = c;
  return {
    id,
    timeMs: Number(row.time),
    requestId: row.request_id,
    action,
    principal,
    ...(onBehalfOf !== null ? { onBehalfOf } : {}),
    resource,
    ...(projectId !== null ? { projectId } : {}),
    result: result as AuditResult,
    status: Number(status),
    ...(row.source_ip !== null ? { sourceIp: row.source_ip } : {}),
    ...(row.user_agent !== null ? { userAgent: row.user_agent } : {}),
    ...(details !== null ? { details } : {}),
  };
}

/** Every event of a stored record: its first event, then its companions, in the order recorded. */
export function recordEvents(row: ChainedEventRow): AuditEvent[] {
  const events = [primaryEvent(row)];
  for (const c of storedCompanions(row)) events.push(companionEvent(row, c));
  return events;
}

/**
 * One record's events as delivered: the record's own event with its chain position and hashes for
 * verification (and, for a record of several events, the stored `companions` text its hash covers),
 * then each companion as an event of its own, naming its record (`recordId`) and sharing its chain
 * position, time, request, address and user agent (docs/decisions/0009-audit-record.md).
 */
export function deliveredEvents(row: ChainedEventRow): DeliveredEvent[] {
  const shared = {
    chainId: row.chain_id,
    seq: Number(row.seq),
    time: new Date(Number(row.time)).toISOString(),
    requestId: row.request_id,
  };
  const first: DeliveredEvent = {
    id: row.id,
    ...shared,
    action: row.action,
    principal: row.principal,
    onBehalfOf: row.on_behalf_of,
    resource: row.resource,
    projectId: row.project_id,
    result: row.result,
    status: Number(row.status),
    sourceIp: row.source_ip,
    userAgent: row.user_agent,
    details: row.details === null ? null : (JSON.parse(row.details) as unknown),
    prevHash: row.prev_hash,
    hash: row.hash,
    ...(row.companions !== null ? { companions: row.companions } : {}),
  };
  const events = [first];
  for (const [
    id,
    action,
    principal,
    onBehalfOf,
    resource,
    projectId,
    result,
    status,
    details,
  ] of storedCompanions(row))
    events.push({
      id,
      ...shared,
      action,
      principal,
      onBehalfOf,
      resource,
      projectId,
      result,
      status: Number(status),
      sourceIp: row.source_ip,
      userAgent: row.user_agent,
      details,
      recordId: row.id,
    });
  return events;
}

/** An event as a sink receives it. */
export interface DeliveredEvent {
  readonly id: string;
  readonly chainId: string;
  readonly seq: number;
  readonly time: string;
  readonly requestId: string;
  readonly action: string;
  readonly principal: string;
  readonly onBehalfOf: string | null;
  readonly resource: string;
  readonly projectId: string | null;
  readonly result: string;
  readonly status: number;
  readonly sourceIp: string | null;
  readonly userAgent: string | null;
  readonly details: unknown;
  readonly prevHash?: string;
  readonly hash?: string;
  readonly companions?: string;
  readonly recordId?: string;
}
