/**
 * PostgreSQL login roles for tests of passwords (rotation, dynamic credentials). The local server
 * trusts 127.0.0.1, so any password would log in; `.ci/postgres-password-auth.sql` (run by
 * `.ci/run`) adds a scram-sha-256 line for members of `coffer_password_auth`, and every role made
 * here is one, so its password is really checked. Outside CI a server without that line skips the
 * tests that need it; in CI (`CI=true`) it fails them.
 */

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { postgresSkipReason, testPostgresUrl, withAdmin } from './postgres.ts';

/** The NOLOGIN role whose members must log in with their password. */
export const passwordAuthGroup = 'coffer_password_auth';

/** Where the test server listens (from `testPostgresUrl`). */
export const testServer = (() => {
  const url = new URL(testPostgresUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    database: url.pathname.slice(1) || 'postgres',
  };
})();

/** A name no other test run uses: `prefix_<12 hex>`. */
export function uniqueRoleName(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** Creates a password-checked login role (any name, quoted); `extra` adds options (`CREATEROLE`). */
export async function createLoginRole(name: string, password: string, extra = ''): Promise<void> {
  await withAdmin((client) =>
    client.query(
      `CREATE ROLE ${pg.escapeIdentifier(name)} LOGIN ${extra} PASSWORD ${pg.escapeLiteral(password)} IN ROLE ${passwordAuthGroup}`,
    ),
  );
}

/** Drops the roles that exist among `names`. */
export async function dropRoles(names: readonly string[]): Promise<void> {
  await withAdmin(async (client) => {
    for (const name of names) await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(name)}`);
  });
}

/** True when `username`/`password` logs in to the test server (and `SELECT 1` answers). */
export async function canLogin(username: string, password: string): Promise<boolean> {
  const client = new pg.Client({ ...testServer, user: username, password, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Why password tests must skip (PostgreSQL unreachable, or passwords not checked for members of
 * `coffer_password_auth`), or undefined. Proves the check with a probe role and a wrong password.
 * Throws in CI.
 */
export async function passwordAuthSkipReason(): Promise<string | undefined> {
  const unreachable = await postgresSkipReason();
  if (unreachable !== undefined) return unreachable;
  const probe = uniqueRoleName('coffer_probe');
  let checked = false;
  try {
    const group = await withAdmin((client) =>
      client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [passwordAuthGroup]),
    );
    if (group.rowCount === 1) {
      await createLoginRole(probe, randomBytes(12).toString('hex'));
      checked = !(await canLogin(probe, 'not-the-password'));
    }
  } finally {
    await dropRoles([probe]);
  }
  if (checked) return undefined;
  const reason = `PostgreSQL at ${testServer.host}:${testServer.port} does not check passwords of ${passwordAuthGroup} members (run: psql -f .ci/postgres-password-auth.sql as a superuser)`;
  if (process.env.CI === 'true') throw new Error(reason);
  return reason;
}
