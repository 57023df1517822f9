import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { CofferError, isCofferError } from '../core/errors.ts';
import { withAdmin } from '../../test/support/postgres.ts';
import {
  createLoginRole,
  dropRoles,
  passwordAuthSkipReason,
  testServer,
  uniqueRoleName,
} from '../../test/support/postgres-roles.ts';
import { scramSha256Verifier } from './postgres-scram.ts';
import {
  asUser,
  parsePostgresTarget,
  type PostgresTarget,
  quoteIdentifier,
  quoteLiteral,
  renderStatements,
  targetFailed,
  testLogin,
  withTargetClient,
} from './postgres-target.ts';

const skip = await passwordAuthSkipReason();

/** The test server's superuser (trust auth) as a target. */
const superuser: PostgresTarget = {
  ...testServer,
  username: 'postgres',
  password: '',
  sslmode: 'disable',
};

describe('parsePostgresTarget', () => {
  test('reads the JSON, accepting dbname for database, with port 5432 and sslmode disable by default', () => {
    const target = parsePostgresTarget(
      Buffer.from(
        JSON.stringify({ host: 'db', dbname: 'app', username: 'u', password: 'p', engine: 'postgres' }),
      ),
      'db/admin',
    );
    assert.deepEqual(target, {
      host: 'db',
      port: 5432,
      database: 'app',
      username: 'u',
      password: 'p',
      sslmode: 'disable',
    });
  });

  for (const [name, value] of [
    ['text that is not JSON', 'hunter2-not-json-secret'],
    ['JSON without a database', JSON.stringify({ host: 'h', username: 'u', password: 'hunter2-secret' })],
    [
      'JSON with a wrong port',
      JSON.stringify({ host: 'h', port: 0, database: 'd', username: 'u', password: 'hunter2-secret' }),
    ],
    [
      'JSON with an unknown sslmode',
      JSON.stringify({
        host: 'h',
        database: 'd',
        username: 'u',
        password: 'hunter2-secret',
        sslmode: 'prefer',
      }),
    ],
  ] as const)
    test(`refuses ${name} with invalid_argument naming the secret, never the value`, () => {
      assert.throws(
        () => parsePostgresTarget(value, 'db/admin'),
        (err) => {
          assert.ok(isCofferError(err, 'invalid_argument'));
          assert.match(err.message, /^db\/admin does not hold PostgreSQL connection JSON/);
          assert.ok(!err.message.includes('hunter2'));
          return true;
        },
      );
    });
});

describe('quoting', () => {
  test('identifiers and literals are quoted, with NUL refused', () => {
    assert.equal(quoteIdentifier('x"; DROP ROLE postgres; --'), '"x""; DROP ROLE postgres; --"');
    assert.equal(quoteLiteral("'); DROP ROLE postgres; --"), "'''); DROP ROLE postgres; --'");
    assert.equal(quoteLiteral("a\\'b"), " E'a\\\\''b'");
    assert.throws(
      () => quoteIdentifier('a\0b'),
      (err) => isCofferError(err, 'invalid_argument'),
    );
    assert.throws(
      () => quoteLiteral('a\0b'),
      (err) => isCofferError(err, 'invalid_argument'),
    );
  });

  test('renderStatements quotes {{name}} as an identifier and {{password}}/{{expiration}} as literals', () => {
    assert.deepEqual(
      renderStatements(['CREATE ROLE {{name}} LOGIN PASSWORD {{ password }} VALID UNTIL {{expiration}}'], {
        name: 'x"; DROP ROLE postgres; --',
        password: "'); DROP ROLE postgres; --",
        expiration: '2030-01-01T00:00:00Z',
      }),
      [
        `CREATE ROLE "x""; DROP ROLE postgres; --" LOGIN PASSWORD '''); DROP ROLE postgres; --' VALID UNTIL '2030-01-01T00:00:00Z'`,
      ],
    );
  });

  test('renderStatements refuses unknown placeholders and ones without a value', () => {
    for (const template of ['GRANT {{role}} TO {{name}}', 'ALTER ROLE {{name}} PASSWORD {{password}}'])
      assert.throws(
        () => renderStatements([template], { name: 'n' }),
        (err) => isCofferError(err, 'invalid_argument'),
      );
  });
});

describe('targetFailed', () => {
  test('names the target, keeps the SQLSTATE, cuts passwords out and drops the cause', () => {
    const err = Object.assign(new Error('syntax error at or near "s3cret-pass" in s3cret-pass'), {
      code: '42601',
    });
    const failed = targetFailed('PostgreSQL connection db/admin', err, ['s3cret-pass']);
    assert.ok(isCofferError(failed, 'target_failed'));
    assert.equal(
      failed.message,
      'PostgreSQL connection db/admin: syntax error at or near "[redacted]" in [redacted] (SQLSTATE 42601)',
    );
    assert.equal(failed.cause, undefined);
    assert.ok(!String(failed.stack).includes('s3cret-pass'));
  });

  test('a refused credential says so without PostgreSQL’s text; a CofferError passes unchanged', () => {
    const refused = Object.assign(new Error('password authentication failed for user "u"'), {
      code: '28P01',
    });
    assert.equal(targetFailed('T', refused).message, 'T: the credential was refused (28P01)');
    const own = new CofferError('failed_precondition', 'x');
    assert.equal(targetFailed('T', own), own);
  });

  test('long messages are cut at 300 characters', () => {
    assert.ok(targetFailed('T', new Error('e'.repeat(1000))).message.length < 320);
  });
});

describe('PostgreSQL targets (real server)', { skip: skip ?? false }, () => {
  const run = randomBytes(4).toString('hex');
  const sentinel = `coffer_sentinel_${run}`;
  const login = uniqueRoleName('coffer_target');
  const loginPassword = randomBytes(12).toString('hex');
  const injectedName = `x"; DROP ROLE ${sentinel}; -- ${run}`;
  const roles = [sentinel, login, injectedName];

  before(async () => {
    await createLoginRole(sentinel, randomBytes(12).toString('hex'));
    await createLoginRole(login, loginPassword);
  });
  after(() => dropRoles(roles));

  test('rendered statements with injection attempts create exactly the literal name, password and comment', async () => {
    const password = `'); DROP ROLE ${sentinel}; --`;
    const comment = `\\'); DROP ROLE ${sentinel}; -- ${run}`;
    const statements = renderStatements(
      [
        'CREATE ROLE {{name}} WITH LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}',
        'COMMENT ON ROLE {{name}} IS {{expiration}}',
      ],
      { name: injectedName, password, expiration: '2099-01-01 00:00:00+00' },
    );
    const commentStatement = renderStatements(['COMMENT ON ROLE {{name}} IS {{password}}'], {
      name: injectedName,
      password: comment,
    });
    await withTargetClient(superuser, 'test server', async (client) => {
      for (const sql of [...statements, ...commentStatement]) await client.query(sql);
      const roles = await client.query(
        'SELECT rolname, shobj_description(oid, $2) AS comment FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname',
        [[sentinel, injectedName], 'pg_authid'],
      );
      assert.deepEqual(
        roles.rows.map((r) => r.rolname),
        [sentinel, injectedName].sort(),
        'the sentinel survives and the new role has the literal name',
      );
      assert.equal(roles.rows.find((r) => r.rolname === injectedName).comment, comment);
    });
    // The literal password is the role's password: a password-checked login proves it.
    await withAdmin((c) => c.query(`GRANT coffer_password_auth TO ${quoteIdentifier(injectedName)}`));
    await testLogin(asUser(superuser, injectedName, password), 'injected role');
  });

  test('testLogin with the right password answers; with a wrong one it is target_failed naming the target', async () => {
    await testLogin(asUser(superuser, login, loginPassword), 'login');
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    const err = await testLogin(asUser(superuser, login, wrong), 'PostgreSQL connection db/admin').then(
      () => assert.fail('a wrong password logged in'),
      (e: unknown) => e,
    );
    assert.ok(isCofferError(err, 'target_failed'));
    assert.equal(err.message, 'PostgreSQL connection db/admin: the credential was refused (28P01)');
    assert.ok(!String(err.stack).includes(wrong));
  });

  test('an unreachable server is target_failed naming the target', async () => {
    const err = await testLogin({ ...superuser, port: 1 }, 'PostgreSQL connection db/admin').then(
      () => assert.fail('port 1 answered'),
      (e: unknown) => e,
    );
    assert.ok(isCofferError(err, 'target_failed'));
    assert.match(err.message, /^PostgreSQL connection db\/admin: .*ECONNREFUSED/);
  });

  test('a failing statement is target_failed with the password set in it redacted', async () => {
    const secret = `pw-${randomBytes(8).toString('hex')}`;
    const err = await withTargetClient(
      superuser,
      'test server',
      (client) => client.query(`SELECT ${quoteLiteral(secret)}::int`),
      {},
      [secret],
    ).then(
      () => assert.fail('the cast succeeded'),
      (e: unknown) => e,
    );
    assert.ok(isCofferError(err, 'target_failed'));
    assert.match(
      err.message,
      /^test server: invalid input syntax for type integer: "\[redacted\]" \(SQLSTATE 22P02\)$/,
    );
  });

  test('the SCRAM verifier computed here is the one PostgreSQL computes for the same salt', async () => {
    const password = 'Abc123xyz-known-answer';
    await withAdmin(async (c) => {
      await c.query("SET password_encryption = 'scram-sha-256'");
      await c.query(`ALTER ROLE ${quoteIdentifier(login)} PASSWORD ${quoteLiteral(password)}`);
    });
    const stored: string = (
      await withAdmin((c) => c.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [login]))
    ).rows[0].rolpassword;
    const [, params] = stored.split('$');
    const [iterations, salt] = params!.split(':');
    assert.equal(
      await scramSha256Verifier(password, Buffer.from(salt!, 'base64'), Number(iterations)),
      stored,
    );
  });

  test('the SCRAM verifier refuses passwords SASLprep would change', async () => {
    await assert.rejects(scramSha256Verifier('pässword'), (err) => isCofferError(err, 'invalid_argument'));
  });
});
