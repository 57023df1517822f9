import type { Clock } from '../core/clock.ts';
import type { CofferError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { targetFailed } from '../targets/postgres-target.ts';
import { type Storage, WriteRejected, type WriteStatement } from '../storage/storage-types.ts';
import type { DbLease, LeaseState } from './database-types.ts';
import type { LeaseClaimRepo } from './lease-claim-repo.ts';
import { toLease } from './lease-repo.ts';
import type { Selectable } from 'kysely';
import type { DbLeasesTable } from '../storage/schema.ts';
import { revokeRole, type AdminSession } from './role-revoker.ts';

/** What revocation needs from a lease's database connection (connection-pools.ts, the role repo). */
export interface LeaseTargetAccess {
  /** The revocation statements of the lease's role (null: the default; also when the role is gone). */
  revocationStatements(lease: DbLease): Promise<readonly string[] | null>;
  /**
   * Runs `fn` with an admin session on the lease's connection; failures
   * (the admin secret unreadable, the server down) are `target_failed` naming the connection.
   */
  withAdmin<T>(lease: DbLease, fn: (session: AdminSession) => Promise<T>): Promise<T>;
}

/** How a revocation attempt ended. */
export type RevocationOutcome =
  | { readonly kind: 'revoked' }
  /** Another node or request holds the lease (or changed it first): nothing was done here. */
  | { readonly kind: 'busy' }
  | {
      readonly kind: 'failed';
      readonly error: CofferError;
      readonly state: Extract<LeaseState, 'revoking' | 'revoke_failed'>;
      readonly attempts: number;
      readonly nextAttemptMs: number;
    };

/** Retry timing of failed revocations. */
export interface RevocationBackoff {
  /** Delay after the first failure. */
  readonly baseMs: number;
  /** The longest delay (a lease in `revoke_failed` keeps being retried at this interval). */
  readonly maxMs: number;
  /** Failed attempts after which the lease shows `revoke_failed` (and a warning is logged). */
  readonly failedAfterAttempts: number;
}

/** The default timing: 2 s, doubling, at most 5 min; `revoke_failed` after 10 attempts (≈ 20 min). */
export const defaultBackoff: RevocationBackoff = { baseMs: 2000, maxMs: 300_000, failedAfterAttempts: 10 };

/** The delay before attempt `attempts + 1`: doubling from `baseMs`, capped, with ±25 % jitter. */
export function backoffDelayMs(attempts: number, backoff: RevocationBackoff, random = Math.random): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 30);
  const delay = Math.min(backoff.maxMs, backoff.baseMs * 2 ** exponent);
  return Math.round(Math.min(backoff.maxMs, delay * (0.75 + random() * 0.5)));
}

/** Dependencies of `LeaseRevocation`. */
export interface LeaseRevocationDeps {
  readonly storage: Storage;
  readonly claims: LeaseClaimRepo;
  readonly clock: Clock;
  readonly logger: Logger;
  /** This node's claim owner id (unique per process). */
  readonly nodeId: string;
  /** How long a claim holds (longer than any revocation: its connect and statement timeouts). */
  readonly claimMs: number;
  readonly backoff: RevocationBackoff;
}

/**
 * One revocation attempt of one lease, shared by `POST /v2/leases/{id}/revoke`, revoke-prefix and
 * the expiry job: claim (compare-and-set), revoke the role on the target as the admin user, then
 * record the outcome and release the claim in one statement — revoked, or the next attempt with
 * exponential backoff and the redacted failure. A node that dies holding a claim leaves the lease
 * to whoever claims it after `claim_until`; revoking twice is harmless (revokeRole is idempotent).
 */
export class LeaseRevocation {
  readonly #deps: LeaseRevocationDeps;

  constructor(deps: LeaseRevocationDeps) {
    this.#deps = deps;
  }

  /**
   * Claims and revokes `lease` (as read; `dueOnly`: only if still due, the job's rule) through
   * `access`. `record` runs the write that marks it revoked (the job wraps it with its audit event).
   */
  async attempt(
    lease: DbLease,
    dueOnly: boolean,
    access: LeaseTargetAccess,
    record: (change: () => Promise<void>) => Promise<void> = (change) => change(),
  ): Promise<RevocationOutcome> {
    const { storage, claims, clock, nodeId, claimMs } = this.#deps;
    const claimedAt = clock.nowMs();
    try {
      await storage.write([claims.claim(lease, nodeId, claimedAt, claimedAt + claimMs, dueOnly)]);
    } catch (err) {
      if (err instanceof WriteRejected) return { kind: 'busy' };
      throw err;
    }
    return this.revokeClaimed(lease, access, record);
  }

  /**
   * Claims for this node, in one write, those of `leases` that are still due and unclaimed (the
   * expiry job's batch); returns them as they are now, to be revoked with `revokeClaimed`.
   */
  async claimDue(leases: readonly DbLease[]): Promise<DbLease[]> {
    if (leases.length === 0) return [];
    const { storage, claims, clock, nodeId, claimMs } = this.#deps;
    const now = clock.nowMs();
    const [rows] = await storage.write([
      claims.claimDue(
        leases.map((lease) => lease.id),
        nodeId,
        now,
        now + claimMs,
      ),
    ]);
    return ((rows ?? []) as Selectable<DbLeasesTable>[]).map(toLease);
  }

  /** Revokes a lease this node has claimed, then records the outcome and releases the claim. */
  async revokeClaimed(
    lease: DbLease,
    access: LeaseTargetAccess,
    record: (change: () => Promise<void>) => Promise<void> = (change) => change(),
  ): Promise<RevocationOutcome> {
    const failure = await this.revokeOnTarget(lease, access);
    if (failure !== undefined) return this.recordFailure(lease, failure);
    const { storage } = this.#deps;
    try {
      await record(async () => void (await storage.write([this.markRevoked(lease)])));
      return { kind: 'revoked' };
    } catch (err) {
      // The claim ran out and another node took the lease over: it records the outcome.
      if (err instanceof WriteRejected) return { kind: 'busy' };
      throw err;
    }
  }

  /** Revokes a claimed lease's role on its target; the failure (redacted), if any. */
  async revokeOnTarget(lease: DbLease, access: LeaseTargetAccess): Promise<CofferError | undefined> {
    try {
      const statements = await access.revocationStatements(lease);
      await access.withAdmin(lease, (session) =>
        revokeRole(session, { username: lease.username, revocationStatements: statements }),
      );
      return undefined;
    } catch (err) {
      return targetFailed(`the revocation of lease ${lease.id}`, err);
    }
  }

  /** The statement recording that this node revoked a lease it claimed (expects one row). */
  markRevoked(lease: DbLease): WriteStatement {
    const { claims, clock, nodeId } = this.#deps;
    return claims.markRevoked(lease.id, nodeId, clock.nowMs());
  }

  /** Records a failed attempt on a claimed lease: backoff, `revoke_failed` after many, the claim released. */
  async recordFailure(lease: DbLease, failure: CofferError): Promise<RevocationOutcome> {
    const { storage, claims, clock, nodeId, backoff, logger } = this.#deps;
    const now = clock.nowMs();
    const attempts = lease.attempts + 1;
    const state = attempts >= backoff.failedAfterAttempts ? 'revoke_failed' : 'revoking';
    const nextAttemptMs = now + backoffDelayMs(attempts, backoff);
    const error = failure.message.length > 500 ? `${failure.message.slice(0, 500)}…` : failure.message;
    try {
      await storage.write([claims.markFailed(lease.id, nodeId, { state, attempts, nextAttemptMs, error })]);
    } catch (err) {
      if (!(err instanceof WriteRejected)) throw err;
    }
    const fields = { lease: lease.id, username: lease.username, attempts, error };
    if (state === 'revoke_failed')
      logger.warn(fields, 'lease revocation keeps failing; retrying at the max backoff');
    else logger.info(fields, 'lease revocation failed; retrying with backoff');
    return { kind: 'failed', error: failure, state, attempts, nextAttemptMs };
  }
}
