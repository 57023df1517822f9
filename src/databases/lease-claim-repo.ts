import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { stmt, type WriteStatement } from '../storage/storage-types.ts';
import type { DbLease, LeaseState } from './database-types.ts';
import { toLease } from './lease-repo.ts';

type Leases = ExpressionBuilder<Database, 'db_leases'>;

/** A row nobody holds: never claimed, released, or claimed by a node whose claim has run out. */
function unclaimed(eb: Leases, nowMs: number): Expression<SqlBool> {
  return eb.or([eb('claim_until', 'is', null), eb('claim_until', '<=', nowMs)]);
}

/**
 * The statements of lease revocation and renewal (db_leases): every change is a compare-and-set, so
 * nodes sharing storage never revoke one lease twice at once. A node claims a lease
 * (`claim_owner`, `claim_until`) before it acts on the target and releases it in the same statement
 * that records the outcome; a claim left by a node that died runs out at `claim_until`, and the
 * lease is claimable again.
 */
export class LeaseClaimRepo {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * Unclaimed leases due for revocation, soonest first: active ones past their expiry, and ones in
   * revocation (`revoking`, `revoke_failed`) whose next attempt is due.
   */
  async dueLeases(nowMs: number, limit: number): Promise<DbLease[]> {
    const expired = await this.#db
      .selectFrom('db_leases')
      .selectAll()
      .where('state', '=', 'active')
      .where('expire_time', '<=', nowMs)
      .where((eb) => unclaimed(eb, nowMs))
      .orderBy('expire_time')
      .limit(limit)
      .execute();
    const retries = await this.#db
      .selectFrom('db_leases')
      .selectAll()
      .where('state', 'in', ['revoking', 'revoke_failed'])
      .where('next_attempt_time', '<=', nowMs)
      .where((eb) => unclaimed(eb, nowMs))
      .orderBy('next_attempt_time')
      .limit(limit)
      .execute();
    return [...expired, ...retries].map(toLease);
  }

  /**
   * Claims `lease` for `owner` until `untilMs` if it is still in the state it was read in and
   * nobody holds it (and, with `dueOnly`, still due: a renewal in between wins). Expects one row:
   * the write is rejected when another node or request got there first.
   */
  claim(lease: DbLease, owner: string, nowMs: number, untilMs: number, dueOnly: boolean): WriteStatement {
    let q = this.#db
      .updateTable('db_leases')
      .set({ claim_owner: owner, claim_until: untilMs })
      .where('id', '=', lease.id)
      .where('state', '=', lease.state)
      .where((eb) => unclaimed(eb, nowMs));
    if (dueOnly)
      q =
        lease.state === 'active'
          ? q.where('expire_time', '<=', nowMs)
          : q.where('next_attempt_time', '<=', nowMs);
    return stmt(q, 'one');
  }

  /**
   * Claims, in one statement, those of `ids` that are still due and unclaimed (the job's batch);
   * returns the claimed rows (RETURNING), as they are now.
   */
  claimDue(ids: readonly string[], owner: string, nowMs: number, untilMs: number): WriteStatement {
    return stmt(
      this.#db
        .updateTable('db_leases')
        .set({ claim_owner: owner, claim_until: untilMs })
        .where('id', 'in', [...ids])
        .where((eb) => unclaimed(eb, nowMs))
        .where((eb) =>
          eb.or([
            eb.and([eb('state', '=', 'active'), eb('expire_time', '<=', nowMs)]),
            eb.and([eb('state', 'in', ['revoking', 'revoke_failed']), eb('next_attempt_time', '<=', nowMs)]),
          ]),
        )
        .returningAll(),
    );
  }

  /** Records a revocation done by the claim's `owner` (state revoked, the claim released). */
  markRevoked(id: string, owner: string, nowMs: number): WriteStatement {
    return stmt(
      this.#db
        .updateTable('db_leases')
        .set({
          state: 'revoked',
          revoke_time: nowMs,
          next_attempt_time: null,
          last_error: null,
          claim_owner: null,
          claim_until: null,
        })
        .where('id', '=', id)
        .where('claim_owner', '=', owner),
      'one',
    );
  }

  /**
   * Records a failed attempt of the claim's `owner`: the lease stays in revocation (`revoking`, or
   * `revoke_failed` once attempts ran out) with its next attempt, and the claim is released.
   */
  markFailed(
    id: string,
    owner: string,
    outcome: {
      state: Extract<LeaseState, 'revoking' | 'revoke_failed'>;
      attempts: number;
      nextAttemptMs: number;
      error: string;
    },
  ): WriteStatement {
    return stmt(
      this.#db
        .updateTable('db_leases')
        .set({
          state: outcome.state,
          attempts: outcome.attempts,
          next_attempt_time: outcome.nextAttemptMs,
          last_error: outcome.error,
          claim_owner: null,
          claim_until: null,
        })
        .where('id', '=', id)
        .where('claim_owner', '=', owner),
      'one',
    );
  }

  /**
   * Moves every active lease of a connection (or of one of its roles) into revocation, due now;
   * returns the ids (RETURNING). A lease an expiry claim holds keeps its claim.
   */
  markAllRevoking(connectionUid: string, roleUid: string | undefined, nowMs: number): WriteStatement {
    let q = this.#db
      .updateTable('db_leases')
      .set({ state: 'revoking', next_attempt_time: nowMs })
      .where('connection_uid', '=', connectionUid)
      .where('state', '=', 'active');
    if (roleUid !== undefined) q = q.where('role_uid', '=', roleUid);
    return stmt(q.returning('id'));
  }

  /**
   * A renewal: the new expiry, if the lease is still active, unclaimed, and has the expiry it was
   * read with (a concurrent renewal or revocation rejects it).
   */
  renew(lease: DbLease, expireTimeMs: number, nowMs: number): WriteStatement {
    return stmt(
      this.#db
        .updateTable('db_leases')
        .set({ expire_time: expireTimeMs })
        .where('id', '=', lease.id)
        .where('state', '=', 'active')
        .where('expire_time', '=', lease.expireTimeMs)
        .where((eb) => unclaimed(eb, nowMs)),
      'one',
    );
  }
}
