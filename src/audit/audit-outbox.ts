import { AsyncLocalStorage } from 'node:async_hooks';
import type { Storage, WriteStatement } from '../storage/storage-types.ts';
import { stmt } from '../storage/storage-types.ts';
import type { AuditLog } from './audit-log.ts';
import type { AuditEvent } from './audit-types.ts';

/** The audit event a request will record, and whether a change of that request carried it. */
export interface PendingAudit {
  readonly id: string;
  readonly event: AuditEvent;
  written: boolean;
}

/** The pending audit event of the request being served (set by the HTTP audit hook). */
export const pendingAudit = new AsyncLocalStorage<PendingAudit>();

/**
 * Storage whose first successful write during a request also inserts that request's audit event
 * into `audit_outbox`, in the same unit: a change can commit only together with its audit record.
 * The chained event later replaces the outbox row (same unit again); if writing it fails, the row
 * stays and `drainAuditOutbox` moves it into the chain. Other members pass through.
 */
export function withAuditOutbox(storage: Storage): Storage {
  return {
    engine: storage.engine,
    db: storage.db,
    async write(statements: readonly WriteStatement[]) {
      const pending = pendingAudit.getStore();
      if (!pending || pending.written) return storage.write(statements);
      const outbox = stmt(
        storage.db.insertInto('audit_outbox').values({
          id: pending.id,
          event: JSON.stringify(pending.event),
          create_time: pending.event.timeMs,
        }),
      );
      const rows = await storage.write([...statements, outbox]);
      pending.written = true;
      return rows.slice(0, statements.length);
    },
    withLock: (name, fn) => storage.withLock(name, fn),
    ping: () => storage.ping(),
    close: () => storage.close(),
    ...(storage.health ? { health: () => storage.health!() } : {}),
    ...(storage.iterateRows ? { iterateRows: (query) => storage.iterateRows!(query) } : {}),
    ...(storage.readSnapshot ? { readSnapshot: (fn) => storage.readSnapshot!(fn) } : {}),
  };
}

/** Runs `change` (a background job's change) so that it commits together with `event`. */
export type ChangeRecorder<E> = (event: E, change: () => Promise<void>) => Promise<void>;

/**
 * Runs a change made outside any request (a background job) the way the HTTP audit hook runs a
 * request's: its first write carries `event` into the outbox in the same unit, and the chained event
 * then replaces that row. If chaining fails (this rejects with `audit_unavailable`), the row stays
 * and `drainAuditOutbox` records it later; a change that wrote nothing records nothing.
 */
export async function auditedChange(
  audit: AuditLog,
  event: AuditEvent,
  change: () => Promise<void>,
): Promise<void> {
  const pending: PendingAudit = { id: event.id, event, written: false };
  await pendingAudit.run(pending, change);
  if (pending.written) await audit.append([event], [pending.id]);
}

/**
 * Moves outbox rows older than `olderThanMs` into the chain (marked `recovered`). Delivery is at
 * least once: two nodes draining at the same moment may both record a row.
 */
export async function drainAuditOutbox(
  storage: Storage,
  audit: AuditLog,
  olderThanMs: number,
): Promise<number> {
  const rows = await storage.db
    .selectFrom('audit_outbox')
    .selectAll()
    .where('create_time', '<', olderThanMs)
    .orderBy('create_time')
    .limit(500)
    .execute();
  for (const row of rows) {
    const event = JSON.parse(row.event) as AuditEvent;
    await audit.append([{ ...event, details: { ...event.details, recovered: true } }], [row.id]);
  }
  return rows.length;
}
