import type { AuditLog } from './audit-log.ts';
import type { PendingAudit } from './audit-outbox.ts';
import type { AuditEvent, AuditResult } from './audit-types.ts';

const noOutboxIds: readonly string[] = Object.freeze([]);

/** The audit result of an answer's HTTP status (401/403 denied, other errors error). */
export function auditResultOf(status: number): AuditResult {
  if (status < 400) return 'ok';
  return status === 401 || status === 403 ? 'denied' : 'error';
}

/**
 * Makes a request's events durable before its answer leaves (both faces, /v2 and AWS), as one audit
 * record (docs/decisions/0009-audit-record.md): the primary event, then the request's extra events (e.g. `kms.decrypt` by an acting identity), those still
 * marked with status 0 taking the request's status and result; the predicted event's outbox row is
 * replaced when a change of the request carried it. Rejects with `audit_unavailable` when the
 * events cannot be written: the caller withholds a successful answer then (fail closed).
 */
export function appendRequestEvents(
  audit: AuditLog,
  primary: AuditEvent,
  extra: readonly AuditEvent[] | undefined,
  pending: PendingAudit | undefined,
): Promise<void> {
  const events = [primary];
  if (extra)
    for (const event of extra)
      events.push(event.status === 0 ? { ...event, status: primary.status, result: primary.result } : event);
  return audit.appendRecord(events, pending?.written ? [pending.id] : noOutboxIds);
}
