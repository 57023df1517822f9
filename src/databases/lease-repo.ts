import type { Kysely, Selectable } from 'kysely';
import type { Database, DbLeasesTable } from '../storage/schema.ts';
import { stmt, type WriteStatement } from '../storage/storage-types.ts';
import type { DbLease, LeaseState } from './database-types.ts';

/** A lease row as the domain sees it. */
export function toLease(row: Selectable<DbLeasesTable>): DbLease {
  return {
    id: row.id,
    connectionUid: row.connection_uid,
    roleUid: row.role_uid,
    projectId: row.project_id,
    regionId: row.region_id,
    instanceId: row.instance_id,
    databaseName: row.database_name,
    roleName: row.role_name,
    username: row.username,
    principal: row.principal,
    state: row.state as LeaseState,
    renewable: Number(row.renewable) === 1,
    issueTimeMs: Number(row.issue_time),
    expireTimeMs: Number(row.expire_time),
    maxExpireTimeMs: Number(row.max_expire_time),
    revokeTimeMs: row.revoke_time === null ? null : Number(row.revoke_time),
    attempts: Number(row.attempts),
    nextAttemptTimeMs: row.next_attempt_time === null ? null : Number(row.next_attempt_time),
    lastError: row.last_error,
  };
}

/** What filters a lease listing of a database connection. */
export interface LeaseFilter {
  readonly roleUid?: string;
  readonly state?: LeaseState;
}

/** The states of a lease whose role may still exist on the target. */
export const UNREVOKED_STATES: readonly LeaseState[] = ['active', 'revoking', 'revoke_failed'];

/** Named queries of database credential leases (db_leases). */
export class LeaseRepo {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Inserts a new lease (unclaimed, no attempts yet). */
  insertLease(lease: DbLease): WriteStatement {
    return stmt(
      this.#db.insertInto('db_leases').values({
        id: lease.id,
        connection_uid: lease.connectionUid,
        role_uid: lease.roleUid,
        project_id: lease.projectId,
        region_id: lease.regionId,
        instance_id: lease.instanceId,
        database_name: lease.databaseName,
        role_name: lease.roleName,
        username: lease.username,
        principal: lease.principal,
        state: lease.state,
        renewable: lease.renewable ? 1 : 0,
        issue_time: lease.issueTimeMs,
        expire_time: lease.expireTimeMs,
        max_expire_time: lease.maxExpireTimeMs,
        revoke_time: lease.revokeTimeMs,
        attempts: lease.attempts,
        next_attempt_time: lease.nextAttemptTimeMs,
        last_error: lease.lastError,
        claim_owner: null,
        claim_until: null,
      }),
    );
  }

  /** Removes a lease whose credential was never created (its creation rolled back). */
  deleteUnissuedLease(id: string): WriteStatement {
    return stmt(this.#db.deleteFrom('db_leases').where('id', '=', id).where('state', '=', 'active'));
  }

  /**
   * Makes an active lease due for revocation now (its creation failed with an unknown outcome: the
   * role may exist), so the expiry job drops whatever was created.
   */
  expireLeaseNow(id: string, nowMs: number, error: string): WriteStatement {
    return stmt(
      this.#db
        .updateTable('db_leases')
        .set({ expire_time: nowMs, max_expire_time: nowMs, last_error: error })
        .where('id', '=', id)
        .where('state', '=', 'active'),
    );
  }

  /**
   * Whether a lease is still active and nobody is revoking it (no live claim): what an issue checks
   * after creating its role, since a revocation may have started while it was in flight.
   */
  async isActiveUnclaimed(id: string, nowMs: number): Promise<boolean> {
    const row = await this.#db
      .selectFrom('db_leases')
      .select('id')
      .where('id', '=', id)
      .where('state', '=', 'active')
      .where((eb) => eb.or([eb('claim_until', 'is', null), eb('claim_until', '<=', nowMs)]))
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Puts a lease recorded as revoked back into revocation, due now: its issue created the role
   * after the revocation looked, and dropping it failed (the expiry job retries).
   */
  reopenRevocation(id: string, nowMs: number, error: string): WriteStatement {
    return stmt(
      this.#db
        .updateTable('db_leases')
        .set({ state: 'revoking', revoke_time: null, next_attempt_time: nowMs, last_error: error })
        .where('id', '=', id)
        .where('state', '=', 'revoked'),
    );
  }

  /** One lease by id. */
  async findLease(id: string): Promise<DbLease | undefined> {
    const row = await this.#db.selectFrom('db_leases').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toLease(row) : undefined;
  }

  /** Leases of a database connection (optionally of one role, in one state) after `after`, by id. */
  async listLeases(
    connectionUid: string,
    filter: LeaseFilter,
    after: string | undefined,
    limit: number,
  ): Promise<DbLease[]> {
    let q = this.#db
      .selectFrom('db_leases')
      .selectAll()
      .where('connection_uid', '=', connectionUid)
      .orderBy('id')
      .limit(limit);
    if (filter.roleUid !== undefined) q = q.where('role_uid', '=', filter.roleUid);
    if (filter.state !== undefined) q = q.where('state', '=', filter.state);
    if (after !== undefined) q = q.where('id', '>', after);
    return (await q.execute()).map(toLease);
  }

  /** Whether a connection (or one of its roles) has a lease not yet revoked. */
  async hasUnrevokedLeases(connectionUid: string, roleUid?: string): Promise<boolean> {
    let q = this.#db
      .selectFrom('db_leases')
      .select('id')
      .where('connection_uid', '=', connectionUid)
      .where('state', 'in', UNREVOKED_STATES)
      .limit(1);
    if (roleUid !== undefined) q = q.where('role_uid', '=', roleUid);
    return (await q.executeTakeFirst()) !== undefined;
  }
}
