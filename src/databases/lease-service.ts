import { setTimeout as delay } from 'node:timers/promises';
import { toRfc3339, type Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { clampPageSize, decodePageToken, type Page, toPage } from '../core/pagination.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { Principal } from '../iam/principal.ts';
import type { Caller } from '../secrets/secret-types.ts';
import { type Storage, WriteRejected } from '../storage/storage-types.ts';
import { databaseName, databaseRoleName } from './database-fns.ts';
import type { DatabaseRepo } from './database-repo.ts';
import type { DatabaseLocation, DbConnection, DbLease, LeaseState } from './database-types.ts';
import type { LeaseClaimRepo } from './lease-claim-repo.ts';
import type { LeaseRepo } from './lease-repo.ts';
import type { LeaseRevocation } from './lease-revocation.ts';
import type { LeaseTargets } from './lease-targets.ts';
import { extendRoleValidity } from './role-revoker.ts';

/** Dependencies of the lease service. */
export interface LeaseServiceDeps {
  readonly storage: Storage;
  readonly repo: DatabaseRepo;
  readonly leases: LeaseRepo;
  readonly claims: LeaseClaimRepo;
  readonly revocation: LeaseRevocation;
  readonly targets: LeaseTargets;
  readonly authorizer: Authorizer;
  readonly clock: Clock;
  /** Starts the expiry job now (revoke-prefix hands it the leases it marked). */
  readonly kickExpiry: () => void;
  /** How long `revoke` waits for a revocation another node or request is running (ms). */
  readonly busyWaitMs?: number;
}

/**
 * Runs once the caller is known to be allowed on the lease, before anything is done (the route's
 * feature gate and audit attribution: a lease's project is known only once it is read).
 */
export type LeaseGate = (lease: DbLease) => Promise<void>;

const noGate: LeaseGate = () => Promise.resolve();

const expirationPlaceholder = /\{\{\s*expiration\s*\}\}/;

/**
 * Leases of dynamic database credentials: read, renew, revoke, list and revoke-prefix. The
 * routes by id (`/v2/leases/{id}`) are open to any authenticated principal and decide here: the
 * issuing principal may read and revoke its own lease, and renew it while it still holds
 * `secrets.leases.issue` on the role; an admin with `secrets.leases.list` (read) or
 * `secrets.leases.revoke` (revoke) on the lease's database may act on any lease of it, but never
 * renew another's. A lease the caller may not see is refused exactly like one that does not exist.
 */
export class LeaseService {
  readonly #deps: LeaseServiceDeps;

  constructor(deps: LeaseServiceDeps) {
    this.#deps = deps;
  }

  /** A lease by id, for its owner or a holder of `secrets.leases.list` on its database. */
  async get(principal: Principal, id: string, gate: LeaseGate = noGate): Promise<DbLease> {
    const lease = await this.#deps.leases.findLease(id);
    if (!lease || (lease.principal !== principal && !(await this.#holdsOnDatabase(principal, 'list', lease))))
      throw refused('secrets.leases.list', id);
    await gate(lease);
    return lease;
  }

  /**
   * Renews the caller's own active, renewable, unexpired lease: the new expiry is `now + increment`
   * (default: the role's defaultTtl), never past the lease's maxExpireTime (the role's maxTtl from
   * issue time). When the role's creation statements set `{{expiration}}` (VALID UNTIL), the role's
   * validity on the server moves with it first, so PostgreSQL itself refuses logins after expiry.
   */
  async renew(
    caller: Caller,
    id: string,
    incrementSeconds: number | undefined,
    gate: LeaseGate = noGate,
  ): Promise<DbLease> {
    const { leases, repo, authorizer, clock, storage, claims, targets } = this.#deps;
    const principal = caller.principal;
    const lease = await leases.findLease(id);
    if (!lease || lease.principal !== principal) throw refused('secrets.leases.issue', id);
    const roleResource = databaseRoleName(lease, lease.databaseName, lease.roleName);
    if (!(await authorizer.holds(principal, 'secrets.leases.issue', roleResource)))
      throw errors.denied('secrets.leases.issue', roleResource);
    await gate(lease);
    const now = clock.nowMs();
    if (lease.state !== 'active')
      throw precondition(`Lease ${id} is ${lease.state}; only an active lease renews.`);
    if (lease.expireTimeMs <= now) throw precondition(`Lease ${id} has expired; issue a new credential.`);
    if (!lease.renewable) throw precondition(`Lease ${id} is not renewable.`);
    const role = await repo.findRoleByUid(lease.roleUid);
    if (!role) throw precondition(`The role of lease ${id} no longer exists.`);
    const seconds = incrementSeconds ?? role.defaultTtlSeconds;
    const expireTimeMs = Math.min(now + seconds * 1000, lease.maxExpireTimeMs);
    if (role.creationStatements.some((statement) => expirationPlaceholder.test(statement)))
      await targets
        .scope(caller)
        .withAdmin(lease, (session) => extendRoleValidity(session, lease.username, toRfc3339(expireTimeMs)));
    try {
      await storage.write([claims.renew(lease, expireTimeMs, now)]);
    } catch (err) {
      if (err instanceof WriteRejected)
        throw errors.conflict(`Lease ${id} was renewed or revoked concurrently; read it again.`);
      throw err;
    }
    return { ...lease, expireTimeMs };
  }

  /**
   * Revokes a lease now (the owner's, or any with `secrets.leases.revoke` on its database): the
   * role's sessions end and the role is dropped before this resolves. A revoked lease answers as
   * it is. When the target fails, the lease stays in revocation (`revoking`, retried with backoff
   * by the expiry job) and this throws `target_failed`. A revocation in flight elsewhere (the job,
   * another request) is waited for.
   */
  async revoke(caller: Caller, id: string, gate: LeaseGate = noGate): Promise<DbLease> {
    const { leases, revocation, targets } = this.#deps;
    const principal = caller.principal;
    const access = targets.scope(caller);
    let lease = await leases.findLease(id);
    if (
      !lease ||
      (lease.principal !== principal && !(await this.#holdsOnDatabase(principal, 'revoke', lease)))
    )
      throw refused('secrets.leases.revoke', id);
    await gate(lease);
    // Real time, not the injected clock: this waits for work in flight.
    const deadline = performance.now() + (this.#deps.busyWaitMs ?? 15_000);
    for (;;) {
      if (lease.state === 'revoked') return lease;
      const outcome = await revocation.attempt(lease, false, access);
      if (outcome.kind === 'revoked') return (await leases.findLease(id))!;
      if (outcome.kind === 'failed') throw outcome.error;
      if (performance.now() >= deadline)
        throw errors.conflict(`Lease ${id} is being revoked elsewhere; read it again shortly.`);
      await delay(100);
      lease = (await leases.findLease(id))!;
    }
  }

  /** Leases of a database (optionally of one role, in one state), by id. Authorized by the route. */
  async list(
    location: DatabaseLocation,
    database: string,
    filter: { role?: string; state?: LeaseState },
    pageSize: number | undefined,
    pageToken: string | undefined,
  ): Promise<Page<DbLease>> {
    const connection = await this.#connection(location, database);
    const roleUid = filter.role === undefined ? undefined : await this.#roleUid(connection, filter.role);
    const size = clampPageSize(pageSize);
    const rows = await this.#deps.leases.listLeases(
      connection.uid,
      { ...(roleUid !== undefined ? { roleUid } : {}), ...(filter.state ? { state: filter.state } : {}) },
      decodePageToken(pageToken),
      size + 1,
    );
    return toPage(rows, size, (lease) => lease.id);
  }

  /**
   * Moves every active lease of a database (or of one of its roles) into revocation, due now, and
   * starts the expiry job, which revokes them with its bounded concurrency (and backoff). Returns
   * how many were moved; `GET …/leases?state=revoking` shows what is left. Authorized by the route.
   */
  async revokePrefix(
    location: DatabaseLocation,
    database: string,
    role: string | undefined,
  ): Promise<number> {
    const connection = await this.#connection(location, database);
    const roleUid = role === undefined ? undefined : await this.#roleUid(connection, role);
    const { storage, claims, clock, kickExpiry } = this.#deps;
    const [ids] = await storage.write([claims.markAllRevoking(connection.uid, roleUid, clock.nowMs())]);
    kickExpiry();
    return ids?.length ?? 0;
  }

  async #connection(location: DatabaseLocation, database: string): Promise<DbConnection> {
    const connection = await this.#deps.repo.findConnection(location, database);
    if (!connection) throw errors.notFound(`Database ${databaseName(location, database)}`);
    return connection;
  }

  async #roleUid(connection: DbConnection, role: string): Promise<string> {
    const found = await this.#deps.repo.findRole(connection.uid, role);
    if (!found) throw errors.notFound(`Role ${databaseRoleName(connection, connection.name, role)}`);
    return found.uid;
  }

  #holdsOnDatabase(principal: Principal, what: 'list' | 'revoke', lease: DbLease): Promise<boolean> {
    return this.#deps.authorizer.holds(
      principal,
      what === 'list' ? 'secrets.leases.list' : 'secrets.leases.revoke',
      databaseName(lease, lease.databaseName),
    );
  }
}

/** The refusal of a lease the caller may not act on, the same whether or not it exists. */
function refused(permission: string, id: string): CofferError {
  return errors.denied(permission, `leases/${id}`);
}

function precondition(message: string): CofferError {
  return new CofferError('failed_precondition', message);
}
