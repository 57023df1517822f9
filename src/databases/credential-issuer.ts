import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import type { Caller } from '../secrets/secret-types.ts';
import { type Storage, WriteRejected } from '../storage/storage-types.ts';
import { type PostgresTarget, renderStatements, targetFailed } from '../targets/postgres-target.ts';
import type { AdminSecrets } from './admin-secret.ts';
import type { ConnectionPools } from './connection-pools.ts';
import { newLeaseId, newPassword, newUsername, parseTtlSeconds } from './database-fns.ts';
import type { DatabaseRepo } from './database-repo.ts';
import type { DatabaseService } from './database-service.ts';
import type { DatabaseLocation, DbConnection, DbLease, DbRole } from './database-types.ts';
import type { LeaseRepo } from './lease-repo.ts';
import { revocationLockKey, revokeRole } from './role-revoker.ts';

/** Whether a statement template holds the password. */
const withPassword = /\{\{\s*password\s*\}\}/;

/**
 * The failure of creation statement `index` that held the password: only its number and SQLSTATE,
 * never PostgreSQL's message, which may quote the statement (a password in another encoding or cut
 * differently than the whole would escape redaction).
 */
function statementFailed(index: number, err: unknown): Error {
  const code = (err as { code?: unknown })?.code;
  const state = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? ` (SQLSTATE ${code})` : '';
  return new Error(`statement ${index + 1} failed${state}`);
}

/** A credential just issued: the password is here once and nowhere else. */
export interface IssuedCredential {
  readonly username: string;
  readonly password: string;
  readonly lease: DbLease;
}

/**
 * Issues dynamic credentials (`POST …/roles/{role}/issue`): a fresh username and password, the
 * lease row written first (so a crash after CREATE ROLE never leaves a role nobody tracks: the
 * expiry job revokes it), then the role's creation statements in one transaction on the target as
 * the admin user. A failed creation removes the lease when the role surely does not exist, and
 * otherwise makes it due for revocation at once.
 */
export class CredentialIssuer {
  readonly #storage: Storage;
  readonly #databases: DatabaseService;
  readonly #leases: LeaseRepo;
  readonly #repo: DatabaseRepo;
  readonly #admin: AdminSecrets;
  readonly #pools: ConnectionPools;
  readonly #clock: Clock;

  constructor(deps: {
    storage: Storage;
    databases: DatabaseService;
    leases: LeaseRepo;
    repo: DatabaseRepo;
    admin: AdminSecrets;
    pools: ConnectionPools;
    clock: Clock;
  }) {
    this.#storage = deps.storage;
    this.#databases = deps.databases;
    this.#leases = deps.leases;
    this.#repo = deps.repo;
    this.#admin = deps.admin;
    this.#pools = deps.pools;
    this.#clock = deps.clock;
  }

  /** Issues a credential of `role` for `caller`; `ttl` defaults to the role's, at most its maxTtl. */
  async issue(
    location: DatabaseLocation,
    database: string,
    roleName: string,
    ttl: string | number | undefined,
    caller: Caller,
  ): Promise<IssuedCredential> {
    const { connection, role } = await this.#databases.getRole(location, database, roleName);
    if (role.adminSecret !== connection.adminSecret)
      throw new CofferError(
        'failed_precondition',
        `Role ${role.name} was written for another admin secret than database ${connection.name}'s (${connection.adminSecret}); PUT it again.`,
      );
    const ttlSeconds = ttl === undefined ? role.defaultTtlSeconds : parseTtlSeconds(ttl, 'ttl');
    if (ttlSeconds > role.maxTtlSeconds)
      throw errors.invalid(`ttl must not exceed the role's maxTtl (${role.maxTtlSeconds}s).`);
    const target = await this.#admin.adminTarget(connection, caller);
    const username = newUsername(role.name);
    const password = newPassword();
    const now = this.#clock.nowMs();
    const lease: DbLease = {
      ...location,
      id: newLeaseId(),
      connectionUid: connection.uid,
      roleUid: role.uid,
      databaseName: connection.name,
      roleName: role.name,
      username,
      principal: caller.principal,
      state: 'active',
      renewable: role.renewable,
      issueTimeMs: now,
      expireTimeMs: now + ttlSeconds * 1000,
      maxExpireTimeMs: now + role.maxTtlSeconds * 1000,
      revokeTimeMs: null,
      attempts: 0,
      nextAttemptTimeMs: null,
      lastError: null,
    };
    const statements = renderStatements(role.creationStatements, {
      name: username,
      password,
      expiration: new Date(lease.expireTimeMs).toISOString(),
    });
    try {
      // The connection and role rows are locked first: a delete of either is one statement after
      // the same lock, so it is refused (this lease unrevoked) or this insert finds them gone.
      await this.#storage.write([
        this.#repo.lockConnection(connection.uid),
        this.#repo.lockRole(role.uid, connection.uid),
        this.#leases.insertLease(lease),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected)
        throw errors.notFound(`Role ${role.name} of database ${connection.name}`);
      throw err;
    }
    const what = `database ${connection.name}`;
    const redact = [password, target.password];
    // Whether the role surely does not exist after a failure (else the lease is revoked at once).
    let surelyAbsent = true;
    try {
      await this.#pools.withAdminClient(connection, target, async (client) => {
        await client.query('BEGIN');
        surelyAbsent = false;
        try {
          // Serialized with the other issues and revocations on this database: grants on a shared
          // object rewrite its catalog row, and two at once fail with "tuple concurrently updated".
          await client.query('SELECT pg_advisory_xact_lock($1)', [revocationLockKey]);
          for (const [i, statement] of statements.entries()) {
            try {
              await client.query(statement);
            } catch (err) {
              throw withPassword.test(role.creationStatements[i]!) ? statementFailed(i, err) : err;
            }
          }
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          const found = await client
            .query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [username])
            .catch(() => undefined);
          surelyAbsent = found !== undefined && found.rowCount === 0;
          throw targetFailed(what, err, redact);
        }
      });
    } catch (err) {
      const failure = targetFailed(what, err, redact);
      const cleanup = surelyAbsent
        ? this.#leases.deleteUnissuedLease(lease.id)
        : this.#leases.expireLeaseNow(lease.id, this.#clock.nowMs(), failure.message);
      // If even this write fails, the lease expires at its time and the expiry job drops the role.
      await this.#storage.write([cleanup]).catch(() => undefined);
      throw failure;
    }
    await this.#confirmIssued(lease, role, connection, target);
    return { username, password, lease };
  }

  /**
   * After the role was created: a revocation (revoke, revoke-prefix, expiry) that started while the
   * issue was in flight may have looked for the role before it existed and recorded the lease
   * revoked. Then the role is dropped here and the issue answers `conflict`, never a credential of
   * a revoked lease. (Revocations look under the lock the creation held, so any later one sees the
   * role and drops it itself.)
   */
  async #confirmIssued(
    lease: DbLease,
    role: DbRole,
    connection: DbConnection,
    target: PostgresTarget,
  ): Promise<void> {
    let readFailure: unknown;
    try {
      if (await this.#leases.isActiveUnclaimed(lease.id, this.#clock.nowMs())) return;
    } catch (err) {
      readFailure = err;
    }
    try {
      await this.#pools.withAdminClient(connection, target, (client) =>
        revokeRole((fn) => fn(client), {
          username: lease.username,
          revocationStatements: role.revocationStatements,
        }),
      );
    } catch (err) {
      const failure = targetFailed(`database ${connection.name}`, err, [target.password]);
      // The revocation recorded it revoked: put it back into revocation so the job drops the role.
      await this.#storage
        .write([this.#leases.reopenRevocation(lease.id, this.#clock.nowMs(), failure.message)])
        .catch(() => undefined);
    }
    if (readFailure !== undefined) throw readFailure;
    throw errors.conflict(
      `The lease was revoked while it was being issued; the credential of role ${role.name} was dropped.`,
    );
  }
}
