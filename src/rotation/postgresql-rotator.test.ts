import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { isCofferError } from '../core/errors.ts';
import { createTestDatabase, withAdmin } from '../../test/support/postgres.ts';
import {
  canLogin,
  createLoginRole,
  dropRoles,
  passwordAuthSkipReason,
  testServer,
} from '../../test/support/postgres-roles.ts';
import { createPostgresRotator, type PostgresRotatorConfig, randomPassword } from './postgresql-rotator.ts';
import type { RotationContext, Rotator } from './rotator.ts';

const skip = await passwordAuthSkipReason();
const secretName = 'projects/p1/regions/r1/instances/i1/secrets/app/db';
const connectionSecret = 'db/admin';
/** The target pinned in the rotator's configuration (the engine fills it when the rotator is set). */
const pins = {
  host: testServer.host,
  port: testServer.port,
  database: testServer.database,
  sslmode: 'disable',
} as const;

/** Runs `fn` on a connection to the test database at `url` (as the superuser). */
async function withDatabase<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The four steps as the engine runs them; returns the new value. */
async function rotate(rotator: Rotator, ctx: RotationContext): Promise<Buffer> {
  const pending = await rotator.createValue(ctx);
  await rotator.setValue(ctx, pending);
  await rotator.testValue(ctx, pending);
  await rotator.finish(ctx, pending);
  return pending;
}

/** A single-user rotator of `username` pinned to the test server (`overrides` replace any field). */
function singleUser(username: string, overrides: Partial<PostgresRotatorConfig> = {}): Rotator {
  return createPostgresRotator({
    ...pins,
    type: 'postgresql',
    connectionSecret,
    strategy: 'single-user',
    username,
    ...overrides,
  });
}

/** An alternate-users rotator of `usernames` pinned to the test server (`overrides` replace any field). */
function alternateUsers(
  usernames: readonly [string, string],
  overrides: Partial<PostgresRotatorConfig> = {},
): Rotator {
  return createPostgresRotator({
    ...pins,
    type: 'postgresql',
    connectionSecret,
    strategy: 'alternate-users',
    usernames,
    ...overrides,
  });
}

/** A value as stored: the JSON of `value`. */
function asValue(value: object): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** The four steps as the engine runs them; returns the new value, parsed. */
async function rotatedValue(rotator: Rotator, ctx: RotationContext) {
  return JSON.parse((await rotate(rotator, ctx)).toString());
}

/** A context whose connection secret holds `admin` and whose current value is `current`. */
function context(admin: object | string, current: Buffer | undefined, version = 2): RotationContext {
  return {
    secretName,
    rotationId: `rot-${version}`,
    pendingVersion: version,
    currentVersion: current === undefined ? undefined : version - 1,
    currentValue: async () => current,
    readReference: async (ref) => {
      assert.equal(ref, connectionSecret);
      return Buffer.from(typeof admin === 'string' ? admin : JSON.stringify(admin));
    },
  };
}

/** The rejection of `promise`, asserted to be `target_failed`. */
async function targetFailure(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => assert.fail('expected target_failed'),
    (e: unknown) => e,
  );
  assert.ok(isCofferError(err, 'target_failed'), `expected target_failed, got ${String(err)}`);
  return err.message;
}

describe('postgresql rotator', { skip: skip ?? false }, () => {
  const run = randomBytes(4).toString('hex');
  const adminName = `coffer_rot_${run}_admin`;
  const adminPassword = randomBytes(16).toString('hex');
  const userA = `coffer_rot_${run}_a`;
  const userB = `coffer_rot_${run}_b`;
  const single = `coffer_rot_${run}_s`;
  const injected = `a"; DROP TABLE x; -- ${run}`;
  const roles = [userA, userB, single, injected, adminName];
  const initial = 'initial-password-1';
  const admin = { ...testServer, username: adminName, password: adminPassword, sslmode: 'disable' };

  before(async () => {
    await createLoginRole(adminName, adminPassword, 'CREATEROLE');
    for (const name of [userA, userB, single, injected]) {
      await createLoginRole(name, initial);
      // PostgreSQL 16+ lets a CREATEROLE admin alter only roles it holds ADMIN OPTION on.
      await withAdmin((c) =>
        c.query(`GRANT ${pg.escapeIdentifier(name)} TO ${pg.escapeIdentifier(adminName)} WITH ADMIN OPTION`),
      );
    }
  });
  after(() => dropRoles(roles));

  test('alternate-users changes the other user each time; the previous credential works until the next rotation', async () => {
    const rotator = alternateUsers([userA, userB]);
    const first = await rotatedValue(rotator, context(admin, undefined));
    assert.deepEqual(Object.keys(first), ['host', 'port', 'database', 'username', 'password', 'sslmode']);
    assert.equal(first.username, userA);
    assert.equal(first.host, testServer.host);
    assert.equal(first.database, testServer.database);
    assert.match(first.password, /^[A-Za-z0-9]{32}$/);
    assert.ok(await canLogin(userA, first.password));
    assert.ok(!(await canLogin(userA, initial)));
    assert.ok(await canLogin(userB, initial), 'the other user is untouched');

    const second = await rotatedValue(rotator, context(admin, asValue(first), 3));
    assert.equal(second.username, userB);
    assert.ok(await canLogin(userB, second.password));
    assert.ok(await canLogin(userA, first.password), 'the previous credential still works');

    const third = await rotatedValue(rotator, context(admin, asValue(second), 4));
    assert.equal(third.username, userA);
    assert.ok(await canLogin(userA, third.password));
    assert.ok(!(await canLogin(userA, first.password)), "the first rotation's password no longer works");
    assert.ok(await canLogin(userB, second.password), 'the previous credential still works');
  });

  test('runs use the pinned target: a connection secret pointing elsewhere supplies only the login', async () => {
    const rotator = singleUser(single);
    // Whoever may write the connection secret points it at a host of theirs (port 1: nothing there).
    const redirected = { ...admin, host: '127.0.0.2', port: 1, database: 'elsewhere', sslmode: 'require' };
    const ctx = context(redirected, undefined);
    const value = await rotatedValue(rotator, ctx);
    assert.deepEqual([value.host, value.port, value.database, value.sslmode], Object.values(pins));
    assert.ok(await canLogin(single, value.password));
    const unpinned = createPostgresRotator({
      type: 'postgresql',
      connectionSecret,
      strategy: 'single-user',
      username: single,
    });
    await assert.rejects(unpinned.createValue(context(admin, undefined)), (err) =>
      isCofferError(err, 'failed_precondition'),
    );
  });

  test('set is idempotent: running it again leaves the pending password working', async () => {
    const rotator = singleUser(single);
    const ctx = context(admin, undefined);
    const pending = await rotator.createValue(ctx);
    await rotator.setValue(ctx, pending);
    await rotator.setValue(ctx, pending);
    await rotator.testValue(ctx, pending);
  });

  test("single-user invalidates the old password at set; the role is the configured one, never the value's", async () => {
    const rotator = singleUser(single, { passwordLength: 20 });
    // Whoever may put a value names the admin role in it: the rotator still alters only `single`.
    const current = Buffer.from(JSON.stringify({ ...admin, username: adminName, password: 'whatever' }));
    const ctx = context(admin, current);
    const pending = await rotator.createValue(ctx);
    const value = JSON.parse(pending.toString());
    assert.equal(value.username, single);
    assert.equal(value.password.length, 20);
    const before = randomPassword(24);
    await withAdmin((c) =>
      c.query(`ALTER ROLE ${pg.escapeIdentifier(single)} PASSWORD ${pg.escapeLiteral(before)}`),
    );
    assert.ok(await canLogin(single, before));
    await rotator.setValue(ctx, pending);
    assert.ok(!(await canLogin(single, before)), 'the old password stops working at set');
    await rotator.testValue(ctx, pending);
    assert.ok(await canLogin(adminName, adminPassword), 'the admin role is untouched');
  });

  test('single-user refuses a pending value naming another role before any connection', async () => {
    const rotator = singleUser(single);
    const forged = Buffer.from(JSON.stringify({ ...admin, username: adminName, password: 'x'.repeat(32) }));
    await assert.rejects(rotator.setValue(context(admin, undefined), forged), (err) =>
      isCofferError(err, 'failed_precondition'),
    );
    assert.ok(await canLogin(adminName, adminPassword));
  });

  test('a wrong admin credential fails set with target_failed naming the connection, no password', async () => {
    const rotator = singleUser(single);
    const wrong = { ...admin, password: 'wrong-admin-password-xyz' };
    const ctx = context(wrong, undefined);
    const pending = await rotator.createValue(ctx);
    const message = await targetFailure(rotator.setValue(ctx, pending));
    assert.match(message, /^PostgreSQL connection db\/admin: the credential was refused/);
    const { password } = JSON.parse(pending.toString());
    for (const secret of [wrong.password, password, adminPassword]) assert.ok(!message.includes(secret));
  });

  test('PostgreSQL unreachable fails set and test with target_failed naming the connection', async () => {
    const rotator = singleUser(single, { port: 1 });
    const ctx = context(admin, undefined);
    const pending = await rotator.createValue(ctx);
    assert.match(
      await targetFailure(rotator.setValue(ctx, pending)),
      /^PostgreSQL connection db\/admin: .*ECONNREFUSED/,
    );
    const test = await targetFailure(rotator.testValue(ctx, pending));
    assert.match(test, /^PostgreSQL connection db\/admin as role "coffer_rot_\w+": .*ECONNREFUSED/);
    assert.ok(!test.includes(JSON.parse(pending.toString()).password));
  });

  test('a wrong pending password fails test with target_failed, no password', async () => {
    const rotator = singleUser(single);
    const ctx = context(admin, undefined);
    const pending = await rotator.createValue(ctx); // created, never set
    const message = await targetFailure(rotator.testValue(ctx, pending));
    assert.match(message, /as role "coffer_rot_\w+_s": the credential was refused \(28P01\)/);
    assert.ok(!message.includes(JSON.parse(pending.toString()).password));
  });

  test('a missing role fails set with target_failed naming it; no role is created', async () => {
    const missing = `coffer_rot_${run}_missing`;
    const rotator = singleUser(missing);
    const ctx = context(admin, undefined);
    const message = await targetFailure(rotator.setValue(ctx, await rotator.createValue(ctx)));
    assert.match(message, new RegExp(`role "${missing}" does not exist`));
    const found = await withAdmin((c) => c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [missing]));
    assert.equal(found.rowCount, 0);
  });

  test('an admin without the right to alter the role, or a NOLOGIN role, fails set with target_failed', async () => {
    const weak = `coffer_rot_${run}_weak`;
    const weakPassword = randomBytes(12).toString('hex');
    const nologin = `coffer_rot_${run}_nologin`;
    roles.push(weak, nologin);
    await createLoginRole(weak, weakPassword);
    await withAdmin((c) => c.query(`CREATE ROLE ${pg.escapeIdentifier(nologin)} NOLOGIN`));
    const rotator = singleUser(single);
    const weakCtx = context({ ...admin, username: weak, password: weakPassword }, undefined);
    const denied = await targetFailure(rotator.setValue(weakCtx, await rotator.createValue(weakCtx)));
    assert.match(denied, /^PostgreSQL connection db\/admin: permission denied.*\(SQLSTATE 42501\)$/);
    const noLogin = singleUser(nologin);
    const ctx = context(admin, undefined);
    const refused = await targetFailure(noLogin.setValue(ctx, await noLogin.createValue(ctx)));
    assert.match(refused, /cannot log in \(NOLOGIN\)/);
  });

  test('a pending value naming a role outside the configuration is refused before any connection', async () => {
    const rotator = alternateUsers([userA, userB]);
    const forged = Buffer.from(JSON.stringify({ ...admin, username: 'postgres', password: 'x'.repeat(32) }));
    await assert.rejects(rotator.setValue(context(admin, undefined), forged), (err) =>
      isCofferError(err, 'failed_precondition'),
    );
  });

  test('an injection attempt in a username is a literal role name', async () => {
    // A database holding a table `x` the admin owns: an unquoted name would have dropped it.
    const database = await createTestDatabase();
    try {
      const inDatabase = { ...admin, database: database.name };
      await withDatabase(database.url, (c) =>
        c.query(`CREATE TABLE x (id int); ALTER TABLE x OWNER TO ${pg.escapeIdentifier(adminName)}`),
      );
      const rotator = alternateUsers([injected, userB], { database: database.name });
      const value = await rotatedValue(rotator, context(inDatabase, undefined));
      assert.equal(value.username, injected);
      assert.equal(value.database, database.name);
      assert.ok(await canLogin(injected, value.password));
      assert.ok(!(await canLogin(injected, initial)));
      const table = await withDatabase(database.url, (c) => c.query("SELECT to_regclass('x') AS oid"));
      assert.notEqual(table.rows[0].oid, null, 'table x still exists');
    } finally {
      await database.drop();
    }
  });

  test('the rotated secret cannot be its own connection secret', async () => {
    const rotator = singleUser(single, { connectionSecret: 'app/db' });
    const ctx = {
      ...context(admin, undefined),
      readReference: async () => Buffer.from(JSON.stringify(admin)),
    };
    await assert.rejects(rotator.createValue(ctx), (err) => isCofferError(err, 'failed_precondition'));
  });
});

describe('postgresql rotator configuration', () => {
  const base = { type: 'postgresql', connectionSecret } as const;
  for (const [name, config] of [
    ['a short password length', { ...base, strategy: 'single-user', username: 'u', passwordLength: 15 }],
    ['a long password length', { ...base, strategy: 'single-user', username: 'u', passwordLength: 129 }],
    ['one username', { ...base, strategy: 'alternate-users', usernames: ['u'] }],
    ['twice the same username', { ...base, strategy: 'alternate-users', usernames: ['u', 'u'] }],
    ['a 64-byte username', { ...base, strategy: 'single-user', username: 'u'.repeat(64) }],
    ['single-user without a username', { ...base, strategy: 'single-user' }],
    ['a bad pinned host', { ...base, strategy: 'single-user', username: 'u', host: 'a b/c' }],
    ['a bad pinned port', { ...base, strategy: 'single-user', username: 'u', port: 70000 }],
    ['an unknown strategy', { ...base, strategy: 'three-users' }],
  ] as const)
    test(`refuses ${name} with invalid_argument`, () => {
      assert.throws(
        () => createPostgresRotator(config as unknown as PostgresRotatorConfig),
        (err) => isCofferError(err, 'invalid_argument'),
      );
    });

  test('random passwords are alphanumeric, of the asked length, and use the whole alphabet', () => {
    const sample = Array.from({ length: 200 }, () => randomPassword(32)).join('');
    assert.match(sample, /^[A-Za-z0-9]{6400}$/);
    assert.equal(new Set(sample).size, 62);
  });
});
