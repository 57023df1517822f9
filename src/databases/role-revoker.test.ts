import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { isCofferError } from '../core/errors.ts';
import { type PostgresTarget, withTargetClient } from '../targets/postgres-target.ts';
import {
  createTestDatabase,
  postgresSkipReason,
  type TestDatabase,
  testPostgresUrl,
} from '../../test/support/postgres.ts';
import { type AdminSession, extendRoleValidity, revokeRole, roleExists } from './role-revoker.ts';

const skip = await postgresSkipReason();

describe('role revoker (real PostgreSQL)', { skip: skip ?? false }, () => {
  let database: TestDatabase;
  let admin: PostgresTarget;
  const session: AdminSession = (fn) => withTargetClient(admin, 'database test', fn);
  const query = (sql: string, values: unknown[] = []) =>
    session(async (client) => (await client.query(sql, values)).rows as Record<string, unknown>[]);
  const newRole = async () => {
    const name = `v-test-${randomBytes(5).toString('hex')}`;
    await query(`CREATE ROLE "${name}" LOGIN PASSWORD 'pw'`);
    await query(`GRANT CREATE ON SCHEMA public TO "${name}"`);
    return name;
  };
  const loginAs = async (name: string) => {
    const client = new pg.Client({
      host: admin.host,
      port: admin.port,
      database: admin.database,
      user: name,
      password: 'pw',
    });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };

  before(async () => {
    database = await createTestDatabase();
    const url = new URL(testPostgresUrl);
    admin = {
      host: url.hostname,
      port: Number(url.port || 5432),
      database: database.name,
      username: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      sslmode: 'disable',
    };
  });
  after(async () => {
    await database?.drop();
  });

  test('the default revocation ends open sessions, drops what the role owns (never hands it to the admin) and drops the role', async () => {
    const name = await newRole();
    const user = await loginAs(name);
    try {
      await user.query('CREATE TABLE owned_by_issued (x int)');
      await user.query(
        `CREATE FUNCTION definer_by_issued() RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT current_user::text'`,
      );
      await revokeRole(session, { username: name, revocationStatements: null });
      assert.equal(await session((client) => roleExists(client, name)), false);
      // The session was terminated: its next query fails.
      await assert.rejects(user.query('SELECT 1'));
      // Its objects are gone: a SECURITY DEFINER function reassigned to the admin would run as the admin.
      assert.deepEqual(await query(`SELECT 1 FROM pg_tables WHERE tablename = 'owned_by_issued'`), []);
      assert.deepEqual(await query(`SELECT 1 FROM pg_proc WHERE proname = 'definer_by_issued'`), []);
    } finally {
      await user.end().catch(() => undefined);
    }
  });

  test('a non-superuser admin (CREATEROLE, pg_signal_backend) revokes a role it created, objects and sessions included', async () => {
    const adminName = `coffer_test_admin_${randomBytes(4).toString('hex')}`;
    await query(`CREATE ROLE ${adminName} LOGIN CREATEROLE`);
    await query(`GRANT pg_signal_backend TO ${adminName}`);
    await query(`GRANT ALL ON SCHEMA public TO ${adminName} WITH GRANT OPTION`);
    const limited: PostgresTarget = { ...admin, username: adminName, password: '' };
    const limitedSession: AdminSession = (fn) => withTargetClient(limited, 'database test', fn);
    const name = `v-test-${randomBytes(5).toString('hex')}`;
    try {
      await limitedSession(async (client) => {
        await client.query(`CREATE ROLE "${name}" LOGIN PASSWORD 'pw'`);
        await client.query(`GRANT CREATE ON SCHEMA public TO "${name}"`);
      });
      const user = await loginAs(name);
      try {
        await user.query('CREATE TABLE owned_by_limited_issue (x int)');
        await user.query(
          `CREATE FUNCTION definer_by_limited() RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT current_user::text'`,
        );
        await revokeRole(limitedSession, { username: name, revocationStatements: null });
        await assert.rejects(user.query('SELECT 1'));
      } finally {
        await user.end().catch(() => undefined);
      }
      assert.equal(await session((client) => roleExists(client, name)), false);
      assert.deepEqual(await query(`SELECT 1 FROM pg_tables WHERE tablename = 'owned_by_limited_issue'`), []);
      assert.deepEqual(await query(`SELECT 1 FROM pg_proc WHERE proname = 'definer_by_limited'`), []);
    } finally {
      await query(`DROP ROLE IF EXISTS "${name}"`).catch(() => undefined);
      await query(`DROP OWNED BY ${adminName}`).catch(() => undefined);
      await query(`DROP ROLE IF EXISTS ${adminName}`).catch(() => undefined);
    }
  });

  test('revoking a role that is already gone succeeds and runs nothing', async () => {
    const name = await newRole();
    await revokeRole(session, { username: name, revocationStatements: null });
    await revokeRole(session, { username: name, revocationStatements: null });
    // Custom statements that would fail on a missing role are not run either.
    await revokeRole(session, {
      username: name,
      revocationStatements: ['DROP ROLE {{name}}'],
    });
  });

  test('custom revocation statements run with {{name}} quoted, in one transaction', async () => {
    const name = await newRole();
    await revokeRole(session, {
      username: name,
      revocationStatements: ['REVOKE CREATE ON SCHEMA public FROM {{name}}', 'DROP ROLE {{name}}'],
    });
    assert.equal(await session((client) => roleExists(client, name)), false);
    // A failing statement rolls the unit back: the role is still there, and the error names the database.
    const kept = await newRole();
    await assert.rejects(
      revokeRole(session, {
        username: kept,
        revocationStatements: ['DROP ROLE {{name}}', 'SELECT no_such_function()'],
      }),
      (err) => isCofferError(err, 'target_failed') && /database test/.test(err.message),
    );
    assert.equal(await session((client) => roleExists(client, kept)), true);
    await revokeRole(session, { username: kept, revocationStatements: null });
  });

  test('an unreachable server fails with target_failed, never the admin password', async () => {
    const dead: AdminSession = (fn) =>
      withTargetClient({ ...admin, port: 1, password: 'hunter2-admin' }, 'database dead', fn, {
        connectTimeoutMs: 1000,
      });
    await assert.rejects(
      revokeRole(dead, { username: 'v-x-y', revocationStatements: null }),
      (err) =>
        isCofferError(err, 'target_failed') &&
        /database dead/.test(err.message) &&
        !err.message.includes('hunter2'),
    );
  });

  test('extendRoleValidity moves VALID UNTIL and leaves a missing role alone', async () => {
    const name = await newRole();
    await extendRoleValidity(session, name, '2099-01-02T03:04:05.000Z');
    const [row] = await query('SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1', [name]);
    assert.equal((row?.rolvaliduntil as Date).toISOString(), '2099-01-02T03:04:05.000Z');
    await revokeRole(session, { username: name, revocationStatements: null });
    await extendRoleValidity(session, name, '2099-01-02T03:04:05.000Z');
  });
});
