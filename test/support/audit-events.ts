import type { Kysely } from 'kysely';
import type { ChainedEventRow } from '../../src/audit/audit-chain.ts';
import { recordEvents, storedCompanions } from '../../src/audit/audit-record.ts';
import type { Database } from '../../src/storage/schema.ts';

/** A stored audit event in the columns' shape: a record's companions as events of their own. */
export interface StoredEventRow {
  id: string;
  chain_id: string;
  seq: number;
  time: number;
  request_id: string;
  action: string;
  principal: string;
  on_behalf_of: string | null;
  resource: string;
  project_id: string | null;
  result: string;
  status: number;
  source_ip: string | null;
  user_agent: string | null;
  details: string | null;
}

/**
 * Every stored audit event (of `requestId`, when given), in chain order, each record expanded into
 * its events (docs/decisions/0009-audit-record.md).
 */
export async function storedAuditEvents(
  db: Kysely<Database>,
  filter: { readonly requestId?: string; readonly action?: string } = {},
): Promise<StoredEventRow[]> {
  let q = db.selectFrom('audit_events').selectAll();
  if (filter.requestId !== undefined) q = q.where('request_id', '=', filter.requestId);
  const rows = (await q.orderBy('chain_id').orderBy('seq').execute()) as ChainedEventRow[];
  const out: StoredEventRow[] = [];
  for (const row of rows)
    for (const e of recordEvents(row)) {
      if (filter.action !== undefined && e.action !== filter.action) continue;
      out.push({
        id: e.id,
        chain_id: row.chain_id,
        seq: Number(row.seq),
        time: e.timeMs,
        request_id: e.requestId,
        action: e.action,
        principal: e.principal,
        on_behalf_of: e.onBehalfOf ?? null,
        resource: e.resource,
        project_id: e.projectId ?? null,
        result: e.result,
        status: e.status,
        source_ip: e.sourceIp ?? null,
        user_agent: e.userAgent ?? null,
        details: e.details === undefined ? null : JSON.stringify(e.details),
      });
    }
  return out;
}

/** The ids of a stored record's events: its own, then its companions'. */
export function recordEventIds(row: { id: string; companions: string | null }): string[] {
  return [row.id, ...storedCompanions(row).map((c) => c[0])];
}
