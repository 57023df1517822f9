import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { AuditLog } from '../audit/audit-log.ts';
import { auditedChange, pendingAudit } from '../audit/audit-outbox.ts';
import type { Clock } from '../core/clock.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import type { Logger } from '../core/logger.ts';
import { leaseName } from './database-fns.ts';
import type { DbLease } from './database-types.ts';
import type { LeaseClaimRepo } from './lease-claim-repo.ts';
import type { LeaseRevocation } from './lease-revocation.ts';
import type { LeaseTargets } from './lease-targets.ts';
import type { AuditEvent } from '../audit/audit-types.ts';
import type { Principal } from '../iam/principal.ts';
import { serviceIdentity } from '../secrets/secret-types.ts';
import { type Storage, stmt, WriteRejected } from '../storage/storage-types.ts';

/** Dependencies of the expiry job. */
export interface LeaseExpiryJobDeps {
  readonly claims: LeaseClaimRepo;
  /** The audited storage (its outbox carries the job's events with its writes). */
  readonly storage: Storage;
  readonly revocation: LeaseRevocation;
  readonly targets: LeaseTargets;
  readonly audit: AuditLog;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Revocations this node runs at once (config `databases.revokeConcurrency`). */
  readonly concurrency: number;
  /** Revocations this node starts per second at most (config `databases.revokeRatePerSecond`). */
  readonly ratePerSecond: number;
  /** Whether the node can work now (false while sealed: admin secrets cannot be read). */
  readonly ready: () => boolean;
}

/** Due leases read per pass. */
const batchSize = 100;
/** Passes of one run at most (the next tick goes on): a run never holds the node for ever. */
const maxPassesPerRun = 50;

/**
 * Revokes leases that are due: active leases past their expiry (audited `secrets.leases.expire`)
 * and leases in revocation whose next attempt is due (`revoking`, `revoke_failed`: a failed
 * revocation, or revoke-prefix; audited `secrets.leases.revoke`), as `service:secretsmanager`.
 * Every lease is claimed by compare-and-set before it is revoked (LeaseRevocation), so nodes
 * sharing storage split the work and revoke each lease once; at most `concurrency` revocations run
 * at once on a node, at most `ratePerSecond` start per second, and failures back off per lease. All state is in db_leases: a restarted node
 * picks up where any node left off.
 */
export class LeaseExpiryJob {
  readonly #deps: LeaseExpiryJobDeps;
  #running: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  /** When the next revocation may start (performance.now() ms): the pacing of a mass expiry. */
  #nextStartMs = 0;
  #stopping = false;

  constructor(deps: LeaseExpiryJobDeps) {
    this.#deps = deps;
  }

  /**
   * Revokes what is due now (or joins the run in flight, which then makes one more pass so that
   * leases made due during it are not left to the next tick).
   */
  run(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    // Outside the caller's request: the job's writes never carry that request's audit event.
    this.#running = pendingAudit.exit(() =>
      this.#runPasses().finally(() => {
        this.#running = undefined;
      }),
    );
    return this.#running;
  }

  /** Runs every `intervalMs` until stopped. */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.run(), intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a run in flight. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    // A run in flight ends after its current chunk (the rest stays due for any node).
    this.#stopping = true;
    await this.#running;
  }

  async #runPasses(): Promise<void> {
    const { logger, ready } = this.#deps;
    try {
      for (let pass = 0; pass < maxPassesPerRun; pass++) {
        this.#again = false;
        if (!ready() || this.#stopping) return;
        const done = await this.#pass();
        if (done === 0 && !this.#again) return;
      }
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'lease expiry failed; retrying on the next tick');
    }
  }

  /** One pass over up to `batchSize` due leases; returns how many this node acted on. */
  async #pass(): Promise<number> {
    const { claims, clock, concurrency, targets, audit, logger, revocation } = this.#deps;
    const due = await claims.dueLeases(clock.nowMs(), batchSize);
    if (due.length === 0) return 0;
    // One scope per pass: each database's admin secret is read once (audited below).
    const events: AuditEvent[] = [];
    const access = targets.scope({
      principal: serviceIdentity as Principal,
      requestId: `job-${randomUUID()}`,
      events,
    });
    // Nodes reading the same due rows start at different places, so their claims rarely collide.
    shuffle(due);
    let acted = 0;
    let failure: unknown;
    try {
      // Chunks of a quarter second's worth of revocations (at least one, at most four waves of
      // `concurrency`): each chunk is claimed in one write, then revoked `concurrency` at a time.
      const chunkSize = Math.min(4 * concurrency, Math.max(1, Math.round(this.#deps.ratePerSecond / 4)));
      for (
        let i = 0;
        i < due.length && failure === undefined && !this.#stopping && this.#deps.ready();
        i += chunkSize
      ) {
        const chunk = due.slice(i, i + chunkSize);
        await this.#pace(chunk.length);
        const claimed = await revocation.claimDue(chunk);
        const revoked: DbLease[] = [];
        let next = 0;
        const worker = async () => {
          // A failure of Coffer's own storage (not the target's: that backs off per lease) stops
          // the pass; the workers in flight finish their lease first.
          while (next < claimed.length && failure === undefined) {
            const lease = claimed[next++]!;
            try {
              const targetFailure = await revocation.revokeOnTarget(lease, access);
              if (targetFailure === undefined) revoked.push(lease);
              else await revocation.recordFailure(lease, targetFailure);
              acted++;
            } catch (err) {
              failure ??= err;
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, claimed.length) }, worker));
        // Dropped roles are recorded even when the pass stops: what happened on the target is kept.
        await this.#recordRevoked(revoked);
      }
    } catch (err) {
      failure ??= err;
    }
    if (events.length > 0)
      await audit.append(events).catch((err: unknown) => {
        logger.warn(
          { err: (err as Error).message },
          'the audit events of admin secret reads were not recorded',
        );
      });
    if (failure !== undefined) throw failure;
    return acted;
  }

  /**
   * Waits for the start slot of `count` revocations: a chunk starts no sooner than the previous
   * one's count ÷ ratePerSecond after it (real time, not the injected clock: this bounds the node's
   * CPU and the target's load), so 1,000 leases expiring at once are revoked over half a minute
   * instead of in one burst that starves reads. Chunks, not single leases, so the writes of a
   * chunk share commits and wake-ups (a lone revocation costs about twice the CPU).
   */
  async #pace(count: number): Promise<void> {
    const now = performance.now();
    const start = Math.max(now, this.#nextStartMs);
    this.#nextStartMs = start + (count * 1000) / this.#deps.ratePerSecond;
    if (start > now) await delay(start - now);
  }

  /**
   * Records the leases whose roles a chunk dropped: every lease's `revoked` row and its audit event
   * (`secrets.leases.expire` for an expired lease, `secrets.leases.revoke` for one already in
   * revocation) commit in one unit through the audit outbox, then the events are chained in one
   * append (a failed append leaves the outbox rows to the background drain). If the unit is
   * refused (a claim ran out and another node took a lease over), each lease is recorded alone.
   */
  async #recordRevoked(leases: readonly DbLease[]): Promise<void> {
    if (leases.length === 0) return;
    const { revocation, audit, clock, storage, logger } = this.#deps;
    const now = clock.nowMs();
    const events = leases.map((lease) => expiryEvent(lease, now));
    const outbox = events.map((event) =>
      stmt(
        storage.db
          .insertInto('audit_outbox')
          .values({ id: event.id, event: JSON.stringify(event), create_time: event.timeMs }),
      ),
    );
    try {
      await storage.write([...leases.map((lease) => revocation.markRevoked(lease)), ...outbox]);
    } catch (err) {
      if (!(err instanceof WriteRejected)) throw err;
      for (const [i, lease] of leases.entries())
        await auditedChange(audit, events[i]!, async () => {
          try {
            await storage.write([revocation.markRevoked(lease)]);
          } catch (one) {
            if (!(one instanceof WriteRejected)) throw one;
          }
        });
      return;
    }
    await audit
      .append(
        events,
        events.map((event) => event.id),
      )
      .catch((err: unknown) => {
        logger.warn({ err: (err as Error).message }, 'lease revocation events wait in the audit outbox');
      });
  }
}

/** The audit event of a lease the job revoked, as `service:secretsmanager`. */
function expiryEvent(lease: DbLease, nowMs: number): AuditEvent {
  return {
    id: newTimeOrderedUuid(nowMs),
    timeMs: nowMs,
    requestId: `job-${randomUUID()}`,
    action: lease.state === 'active' ? 'secrets.leases.expire' : 'secrets.leases.revoke',
    principal: serviceIdentity,
    resource: leaseName(lease),
    projectId: lease.projectId,
    result: 'ok',
    status: 200,
    details: { username: lease.username, ...(lease.attempts > 0 ? { attempts: lease.attempts } : {}) },
  };
}

/** Fisher–Yates, in place. */
function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}
