import { CofferError } from '../core/errors.ts';
import type { Caller } from '../secrets/secret-types.ts';
import type { PostgresTarget } from '../targets/postgres-target.ts';
import type { AdminSecrets } from './admin-secret.ts';
import type { ConnectionPools } from './connection-pools.ts';
import type { DatabaseRepo } from './database-repo.ts';
import type { DbConnection, DbLease } from './database-types.ts';
import type { LeaseTargetAccess } from './lease-revocation.ts';

/**
 * The targets of leases: a lease's connection, its admin credential (read from its Coffer secret
 * for `caller`, audited into `caller.events`) and the pooled admin session. A scope reads each
 * connection, admin secret and role once (a pass of the expiry job over many leases of one database
 * reads the secret once, not once per lease).
 */
export class LeaseTargets {
  readonly #repo: DatabaseRepo;
  readonly #adminSecrets: AdminSecrets;
  readonly #pools: ConnectionPools;

  constructor(deps: { repo: DatabaseRepo; adminSecrets: AdminSecrets; pools: ConnectionPools }) {
    this.#repo = deps.repo;
    this.#adminSecrets = deps.adminSecrets;
    this.#pools = deps.pools;
  }

  /** Access to lease targets on behalf of `caller` (a request, or a pass of the expiry job). */
  scope(caller: Caller): LeaseTargetAccess {
    const admins = new Map<string, Promise<{ connection: DbConnection; target: PostgresTarget }>>();
    const adminOf = (lease: DbLease) => {
      let found = admins.get(lease.connectionUid);
      if (!found) {
        found = this.#admin(lease, caller);
        // A failed read is not remembered: the next lease of the scope tries again.
        found.catch(() => admins.delete(lease.connectionUid));
        admins.set(lease.connectionUid, found);
      }
      return found;
    };
    const statements = new Map<string, Promise<readonly string[] | null>>();
    return {
      revocationStatements: (lease) => {
        let found = statements.get(lease.roleUid);
        if (!found) {
          found = this.#revocationStatements(lease);
          found.catch(() => statements.delete(lease.roleUid));
          statements.set(lease.roleUid, found);
        }
        return found;
      },
      withAdmin: async (lease, fn) => {
        const { connection, target } = await adminOf(lease);
        return fn((inner) => this.#pools.withAdminClient(connection, target, inner));
      },
    };
  }

  /**
   * The role's own revocation statements, only if written under the connection's current admin
   * secret: statements put while the connection named another (weaker) admin secret never run with
   * this one — the default revocation runs instead.
   */
  async #revocationStatements(lease: DbLease): Promise<readonly string[] | null> {
    const [role, connection] = await Promise.all([
      this.#repo.findRoleByUid(lease.roleUid),
      this.#repo.findConnectionByUid(lease.connectionUid),
    ]);
    if (!role || !connection || role.adminSecret !== connection.adminSecret) return null;
    return role.revocationStatements;
  }

  async #admin(
    lease: DbLease,
    caller: Caller,
  ): Promise<{ connection: DbConnection; target: PostgresTarget }> {
    const connection = await this.#repo.findConnectionByUid(lease.connectionUid);
    if (!connection)
      throw new CofferError(
        'failed_precondition',
        `The database ${lease.databaseName} of lease ${lease.id} no longer exists.`,
      );
    return { connection, target: await this.#adminSecrets.adminTarget(connection, caller) };
  }
}
