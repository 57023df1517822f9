import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.ts';
import { auditedChange, drainAuditOutbox } from '../audit/audit-outbox.ts';
import type { AuditEvent } from '../audit/audit-types.ts';
import { pruneAuditEvents } from '../audit/audit-retention.ts';
import type { Barrier } from '../barrier/barrier.ts';
import type { Clock } from '../core/clock.ts';
import type { KmsService } from '../kms/kms-service.ts';
import { keyResourceName } from '../kms/kms-types.ts';
import type { InstanceService } from '../secrets/instance-service.ts';
import type { RotationService } from '../rotation/rotation-service.ts';
import type { SecretService } from '../secrets/secret-service.ts';
import { secretName } from '../secrets/secret-types.ts';
import { oldestChangeTime, pruneStatements } from '../storage/change-log.ts';
import type { Storage } from '../storage/storage-types.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';

/**
 * Background work of a node: KMS rotations and deletions, secret expiry, purge and rotation
 * schedules, rewrap operations. Every job is safe on several nodes at once (compare-and-set or
 * leases in storage); each change it makes commits together with its audit event (the outbox),
 * recorded under the service that made it. A call
 * while a run is in flight joins that run.
 */
export interface BackgroundJobDeps {
  readonly barrier: Barrier;
  readonly kms: KmsService;
  readonly secrets: SecretService;
  readonly instances: InstanceService;
  /** Runs rotations whose schedule or retry is due (secrets with a rotator). */
  readonly rotation: RotationService;
  readonly audit: AuditLog;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly storage: Storage;
  /** Days of audit events to keep (0 = forever). */
  readonly auditRetentionDays: number;
  /** Days of the change feed to keep (older cursors answer 410 gone). */
  readonly changeRetentionDays: number;
}

/** How long an outbox row may wait for its request's own chained event before a job records it. */
const outboxGraceMs = 60_000;

/** The background work of a node (see the file's doc comment). */
export class BackgroundJobs {
  readonly #deps: BackgroundJobDeps;
  #running: Promise<void> | undefined;
  /** Scheduled rotations in flight, apart from the other jobs (a slow target must not hold them up). */
  #rotating: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: BackgroundJobDeps) {
    this.#deps = deps;
  }

  /** Runs due work once (or joins the run in flight), scheduled rotations included. */
  run(): Promise<void> {
    this.#running ??= this.#runOnce().finally(() => {
      this.#running = undefined;
    });
    this.#rotating ??= this.#rotate().finally(() => {
      this.#rotating = undefined;
    });
    return Promise.all([this.#running, this.#rotating]).then(() => undefined);
  }

  /** Secrets with a rotator rotate (each step audited by the engine); the others record rotation_due. */
  async #rotate(): Promise<void> {
    const { barrier, rotation, logger } = this.#deps;
    if (barrier.sealed) return;
    try {
      const rotated = await rotation.runDue();
      if (rotated > 0) logger.info({ rotated }, 'scheduled rotations finished');
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'scheduled rotations failed; retrying on the next tick');
    }
  }

  /** Runs every `intervalMs` until stopped. */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.run(), intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a run in flight. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
    await this.#rotating;
  }

  async #runOnce(): Promise<void> {
    const { barrier, kms, secrets, instances, logger } = this.#deps;
    if (barrier.sealed) return;
    try {
      const kmsEvents = await kms.runDueJobs((event, change) =>
        this.#audited(change, {
          action: event.action,
          principal: 'service:kms',
          resource: keyResourceName(event.key),
          projectId: event.key.projectId,
          ...(event.version !== undefined ? { details: { keyVersion: event.version } } : {}),
        }),
      );
      for (const event of kmsEvents)
        logger.info(
          { action: event.action, key: event.key.uid, version: event.version },
          'kms background job',
        );
      await secrets.runDueJobs((event, change) =>
        this.#audited(change, {
          action: event.action,
          principal: 'service:secretsmanager',
          resource: secretName(event.secret),
          projectId: event.secret.projectId,
        }),
      );
      await instances.runOperations();
      const { auditRetentionDays, audit, clock, storage } = this.#deps;
      // Changes whose chained audit event could not be written (their request failed closed).
      const recovered = await drainAuditOutbox(storage, audit, clock.nowMs() - outboxGraceMs);
      if (recovered > 0) logger.warn({ recovered }, 'recorded audit events of changes from the outbox');
      if (auditRetentionDays > 0) {
        const now = clock.nowMs();
        const removed = await pruneAuditEvents(
          storage,
          audit.signCheckpoint.bind(audit),
          now - auditRetentionDays * 86_400_000,
          now,
        );
        if (removed > 0) logger.info({ removed }, 'audit retention pruned events');
      }
      await this.pruneChanges();
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'background jobs failed; retrying on the next tick');
    }
  }

  /** Removes change-feed rows older than the retention (a suffix of the feed is kept, see change-log.ts). */
  async pruneChanges(): Promise<void> {
    const { storage, clock, changeRetentionDays } = this.#deps;
    const cutoffMs = clock.nowMs() - changeRetentionDays * 86_400_000;
    // Nothing to do (the common case) costs one indexed read, not a write.
    const oldest = await oldestChangeTime(storage.db);
    if (oldest === undefined || oldest >= cutoffMs) return;
    await storage.write(pruneStatements(storage.db, cutoffMs));
  }

  /** Runs a job's change so that it commits together with its audit event (see auditedChange). */
  #audited(
    change: () => Promise<void>,
    event: Pick<AuditEvent, 'action' | 'principal' | 'resource' | 'projectId' | 'details'>,
  ): Promise<void> {
    const now = this.#deps.clock.nowMs();
    const recorded: AuditEvent = {
      ...event,
      id: newTimeOrderedUuid(now),
      timeMs: now,
      requestId: `job-${randomUUID()}`,
      result: 'ok',
      status: 200,
    };
    return auditedChange(this.#deps.audit, recorded, change);
  }
}
