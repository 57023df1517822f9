import { pendingAudit } from './audit-outbox.ts';

/**
 * Who makes the change being recorded in the change feed: the principal of the audited request or
 * background job running now (the HTTP audit hook and `auditedChange` set it), else `fallback` (a
 * job's own `service:…` name for work outside any audited unit, such as rewraps).
 */
export function changeActor(fallback: string): string {
  return pendingAudit.getStore()?.event.principal ?? fallback;
}
