import type { Logger } from 'pino';
import { CofferError } from '../core/errors.ts';
import type { Storage } from '../storage/storage-types.ts';
import { stmt } from '../storage/storage-types.ts';
import type { AuditEvent } from './audit-types.ts';

/**
 * The one audit interface. `append` resolves once the events are durable (committed with the
 * storage's group commit) or rejects with `audit_unavailable` after a bounded wait, so the caller can
 * fail closed: nothing is answered that was not audited. The audit issue adds the hash chain,
 * signatures, queries and sinks behind this same interface.
 */
export class AuditLog {
  readonly #storage: Storage;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  #failing = false;

  constructor(storage: Storage, logger: Logger, timeoutMs: number) {
    this.#storage = storage;
    this.#logger = logger;
    this.#timeoutMs = timeoutMs;
  }

  /** True while the last append failed. */
  get failing(): boolean {
    return this.#failing;
  }

  /** Makes `events` durable, or throws `audit_unavailable`. */
  async append(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    const db = this.#storage.db;
    const statements = events.map((event) =>
      stmt(
        db.insertInto('audit_events').values({
          id: event.id,
          time: event.timeMs,
          request_id: event.requestId,
          action: event.action,
          principal: event.principal,
          on_behalf_of: event.onBehalfOf ?? null,
          resource: event.resource,
          project_id: event.projectId ?? null,
          result: event.result,
          status: event.status,
          source_ip: event.sourceIp ?? null,
          user_agent: event.userAgent ?? null,
          details: event.details ? JSON.stringify(event.details) : null,
        }),
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#storage.write(statements),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('audit write timed out')), this.#timeoutMs);
        }),
      ]);
      this.#failing = false;
    } catch (err) {
      this.#failing = true;
      this.#logger.error(
        { err: (err as Error).message, events: events.length },
        'audit events could not be made durable',
      );
      throw new CofferError(
        'audit_unavailable',
        'The audit event could not be made durable in time; the answer was withheld.',
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
