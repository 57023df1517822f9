import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.ts';
import { auditedChange, pendingAudit } from '../audit/audit-outbox.ts';
import type { Clock } from '../core/clock.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import type { Logger } from '../core/logger.ts';
import { leaseName } from './database-fns.ts';
import type { DbLease } from './database-types.ts';
import type { LeaseClaimRepo } from './lease-claim-repo.ts';
import type { LeaseRevocation, LeaseTargetAccess } from './lease-revocation.ts';
import type { LeaseTargets } from './lease-targets.ts';
import type { AuditEvent } from '../audit/audit-types.ts';
import type { Principal } from '../iam/principal.ts';
import { serviceIdentity } from '../secrets/secret-types.ts';

/** Dependencies of the expiry job. */
export interface LeaseExpiryJobDeps {
  readonly claims: LeaseClaimRepo;
  readonly revocation: LeaseRevocation;
  readonly targets: LeaseTargets;
  readonly audit: AuditLog;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Revocations this node runs at once (config `databases.revokeConcurrency`). */
  readonly concurrency: number;
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
 * at once on a node, and failures back off per lease. All state is in db_leases: a restarted node
 * picks up where any node left off.
 */
export class LeaseExpiryJob {
  readonly #deps: LeaseExpiryJobDeps;
  #running: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;

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
    await this.#running;
  }

  async #runPasses(): Promise<void> {
    const { logger, ready } = this.#deps;
    try {
      for (let pass = 0; pass < maxPassesPerRun; pass++) {
        this.#again = false;
        if (!ready()) return;
        const done = await this.#pass();
        if (done === 0 && !this.#again) return;
      }
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'lease expiry failed; retrying on the next tick');
    }
  }

  /** One pass over up to `batchSize` due leases; returns how many this node acted on. */
  async #pass(): Promise<number> {
    const { claims, clock, concurrency, targets, audit, logger } = this.#deps;
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
    let next = 0;
    let acted = 0;
    let failure: unknown;
    const worker = async () => {
      // A failure of Coffer's own storage or audit (not the target's: that backs off per lease)
      // stops the pass; the workers in flight finish their lease first.
      while (next < due.length && failure === undefined) {
        const lease = due[next++]!;
        try {
          if ((await this.#revoke(lease, access)) !== 'busy') acted++;
        } catch (err) {
          failure ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, worker));
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

  async #revoke(lease: DbLease, access: LeaseTargetAccess): Promise<'revoked' | 'failed' | 'busy'> {
    const { revocation, audit, clock } = this.#deps;
    const action = lease.state === 'active' ? 'secrets.leases.expire' : 'secrets.leases.revoke';
    const outcome = await revocation.attempt(lease, true, access, (change) => {
      const now = clock.nowMs();
      return auditedChange(
        audit,
        {
          id: newTimeOrderedUuid(now),
          timeMs: now,
          requestId: `job-${randomUUID()}`,
          action,
          principal: 'service:secretsmanager',
          resource: leaseName(lease),
          projectId: lease.projectId,
          result: 'ok',
          status: 200,
          details: { username: lease.username, ...(lease.attempts > 0 ? { attempts: lease.attempts } : {}) },
        },
        change,
      );
    });
    return outcome.kind;
  }
}

/** Fisher–Yates, in place. */
function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}
