import type pg from 'pg';
import { quoteIdentifier, quoteLiteral, renderStatements } from '../targets/postgres-target.ts';

/**
 * Runs `fn` on a connection to a database connection's target as its admin user (a pooled client
 * of connection-pools.ts); a failure becomes `target_failed` naming the connection, never a
 * credential.
 */
export type AdminSession = <T>(fn: (client: pg.ClientBase) => Promise<T>) => Promise<T>;

/** What a revocation needs to know about one lease. */
export interface RevocationTarget {
  /** The issued role (`v-…`). */
  readonly username: string;
  /** The role's revocation statements (`{{name}}` templates); null: the default sequence. */
  readonly revocationStatements: readonly string[] | null;
}

/**
 * The default revocation of an issued role, as the admin user, in the connection's database (as
 * Vault's):
 * 1. `ALTER ROLE … NOLOGIN`, committed first, so no new session can start;
 * 2. `pg_terminate_backend` of every session of the role (all databases of the server);
 * 3. in one transaction: `GRANT … TO CURRENT_USER` (membership, which DROP OWNED needs when the
 *    admin is not a superuser), `DROP OWNED BY …` (drops the objects the role owns and revokes its
 *    privileges), `DROP ROLE IF EXISTS …`.
 *
 * Objects the issued role created are dropped, never reassigned: handing them to the admin would
 * let the role's SECURITY DEFINER functions and views run as the admin for whoever can call them.
 *
 * The admin needs: a superuser, or CREATEROLE with `pg_signal_backend` (to end the sessions).
 *
 * DROP OWNED acts only in the database the admin is connected to (the connection's `database`): a
 * role that owns objects or holds privileges in another database of the server cannot be dropped
 * (SQLSTATE 2BP01), and the revocation fails (and is retried) until an operator cleans that
 * database or sets revocation statements that do.
 */
export function defaultRevocation(username: string): {
  readonly before: readonly string[];
  readonly inTransaction: readonly string[];
} {
  const role = quoteIdentifier(username);
  return {
    before: [
      `ALTER ROLE ${role} NOLOGIN`,
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${quoteLiteral(username)}`,
    ],
    inTransaction: [
      // DROP OWNED needs the privileges of the role: a superuser has them, a CREATEROLE admin gets
      // them here (it may grant roles it created on PostgreSQL 16+, any non-superuser role before).
      `GRANT ${role} TO CURRENT_USER`,
      `DROP OWNED BY ${role}`,
      `DROP ROLE IF EXISTS ${role}`,
    ],
  };
}

/** Whether a role exists on the server `client` is connected to. */
export async function roleExists(client: pg.ClientBase, username: string): Promise<boolean> {
  const result = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [username]);
  return (result.rowCount ?? 0) > 0;
}

/**
 * Revokes an issued role on its target (see `defaultRevocation`, or the role's own statements,
 * rendered with `{{name}}` and run in order, in one transaction). Idempotent: a role that no longer
 * exists is already revoked, and nothing is run (so custom statements must drop the role, or be
 * safe to run again). Throws `target_failed` (through `session`) when the target refuses or cannot
 * be reached.
 */
export async function revokeRole(session: AdminSession, target: RevocationTarget): Promise<void> {
  await session(async (client) => {
    const custom = target.revocationStatements;
    const plan = custom === null ? defaultRevocation(target.username) : undefined;
    // NOLOGIN is committed with the check, under the lock, so no new session can start.
    const [noLogin, ...before] = plan?.before ?? [];
    if (!(await roleExistsLocked(client, target.username, noLogin))) return;
    try {
      if (custom !== null) {
        await inTransaction(client, renderStatements(custom, { name: target.username }));
        return;
      }
      // One round trip: the simple protocol runs several statements of one string in order.
      await client.query(before.join(';\n'));
      await inTransaction(client, plan!.inTransaction);
    } catch (err) {
      // Another revocation of the same role (an issue dropping what it created for a lease revoked
      // meanwhile) dropped it first: revoked all the same.
      if (!(await roleExists(client, target.username).catch(() => true))) return;
      throw err;
    }
  });
}

/**
 * Whether the role exists, looked up under the per-database lock that issues hold while they
 * create roles: an issue in flight has committed (the role is seen) or rolled back (it is not)
 * before the lookup, so a revocation never misses a role about to appear. `then` runs in the same
 * transaction when the role exists.
 */
async function roleExistsLocked(
  client: pg.ClientBase,
  username: string,
  then: string | undefined,
): Promise<boolean> {
  await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${revocationLockKey})`);
  try {
    const exists = await roleExists(client, username);
    if (exists && then !== undefined) await client.query(then);
    await client.query('COMMIT');
    return exists;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * The advisory lock (on the target, per database) that serializes the transactional part of
 * revocations: DROP OWNED and REVOKE of privileges on a shared object (a schema, a table every
 * issued role was granted) rewrite that object's catalog row, and two revocations at once fail with
 * "tuple concurrently updated" (XX000). Coffer's own storage never uses advisory locks; this one is
 * on the target only, and held for one short transaction.
 */
export const revocationLockKey = 0x436f_6672; // "Cofr"

/** Whether a target error is a transient conflict with concurrent catalog changes (worth one more try). */
function concurrentCatalogUpdate(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    e?.code === '40P01' ||
    e?.code === '40001' ||
    (e?.code === 'XX000' && typeof e.message === 'string' && e.message.includes('concurrently'))
  );
}

/**
 * Runs `statements` in one transaction on `client`, under the revocation lock (rolled back on the
 * first failure); a conflict with concurrent catalog changes (an issue granting on the same object,
 * a deadlock) is retried up to twice.
 */
async function inTransaction(client: pg.ClientBase, statements: readonly string[]): Promise<void> {
  // One round trip (simple protocol): a failing statement skips the rest and leaves the
  // transaction aborted, which the ROLLBACK below ends.
  const unit = ['BEGIN', `SELECT pg_advisory_xact_lock(${revocationLockKey})`, ...statements, 'COMMIT'].join(
    ';\n',
  );
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query(unit);
      return;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (attempt >= 3 || !concurrentCatalogUpdate(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 40));
    }
  }
}

/**
 * `ALTER ROLE … VALID UNTIL …` for a renewed lease whose role was created with `{{expiration}}`,
 * so PostgreSQL refuses its logins after the lease's new expiry by itself. A role already gone is
 * left alone.
 */
export async function extendRoleValidity(
  session: AdminSession,
  username: string,
  expiration: string,
): Promise<void> {
  await session(async (client) => {
    if (!(await roleExists(client, username))) return;
    await client.query(`ALTER ROLE ${quoteIdentifier(username)} VALID UNTIL ${quoteLiteral(expiration)}`);
  });
}
