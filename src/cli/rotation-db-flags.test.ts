import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { durationSeconds } from './cli-duration.ts';
import { databaseAndRole } from './db-commands.ts';
import { mergeRotation, rotatorFromFlags } from './rotation-flags.ts';
import { dbEnvNames, renewDelayMs } from './run-db-credential.ts';

describe('CLI flags of rotation and dynamic credentials', () => {
  test('--rotator flags build each rotator type, and refuse flags of another type', () => {
    assert.equal(rotatorFromFlags({}), undefined);
    assert.deepEqual(rotatorFromFlags({ rotator: 'random', rotatorLength: '48', rotatorCharset: 'hex' }), {
      type: 'random',
      length: 48,
      charset: 'hex',
    });
    assert.deepEqual(
      rotatorFromFlags({
        rotator: 'postgresql',
        rotatorConnectionSecret: 'db/admin',
        rotatorStrategy: 'alternate-users',
        rotatorUsernames: 'app_a, app_b',
        rotatorLength: '24',
      }),
      {
        type: 'postgresql',
        connectionSecret: 'db/admin',
        strategy: 'alternate-users',
        usernames: ['app_a', 'app_b'],
        passwordLength: 24,
      },
    );
    assert.deepEqual(
      rotatorFromFlags({
        rotator: 'webhook',
        rotatorUrl: 'https://h.example/r',
        rotatorSigningSecret: 'hook/key',
      }),
      { type: 'webhook', url: 'https://h.example/r', signingSecret: 'hook/key' },
    );
    assert.deepEqual(rotatorFromFlags({ rotatorJson: '{"type":"random","exclude":"0O"}' }), {
      type: 'random',
      exclude: '0O',
    });
    const refused: Array<[Parameters<typeof rotatorFromFlags>[0], RegExp]> = [
      [{ rotator: 'lambda' }, /--rotator takes random, postgresql or webhook/],
      [{ rotatorLength: '32' }, /--rotator-length needs --rotator/],
      [{ rotator: 'random', rotatorUrl: 'https://x' }, /--rotator-url does not apply to --rotator random/],
      [{ rotator: 'postgresql', rotatorStrategy: 'single-user' }, /needs --rotator-connection-secret/],
      [
        {
          rotator: 'postgresql',
          rotatorConnectionSecret: 'a',
          rotatorStrategy: 'alternate-users',
          rotatorUsernames: 'one',
        },
        /two logins/,
      ],
      [
        {
          rotator: 'postgresql',
          rotatorConnectionSecret: 'a',
          rotatorStrategy: 'single-user',
          rotatorUsernames: 'a,b',
        },
        /single-user takes --rotator-username/,
      ],
      [{ rotator: 'webhook', rotatorUrl: 'https://x' }, /needs --rotator-url and --rotator-signing-secret/],
      [{ rotator: 'random', rotatorLength: 'ten' }, /--rotator-length must be a positive integer/],
      [{ rotatorJson: '{"type":' }, /not valid JSON/],
      [{ rotatorJson: '[1]' }, /a JSON object/],
      [{ rotatorJson: '{"type":"random"}', rotator: 'random' }, /cannot be combined/],
    ];
    for (const [flags, message] of refused) assert.throws(() => rotatorFromFlags(flags), message);
  });

  test('an update keeps the part of rotation no flag changes', () => {
    const now = { period: '86400s', nextRotationTime: '2030-01-01T00:00:00Z', rotator: { type: 'random' } };
    assert.deepEqual(mergeRotation(now, { rotator: { type: 'random', length: 64 } }), {
      period: '86400s',
      nextRotationTime: '2030-01-01T00:00:00Z',
      rotator: { type: 'random', length: 64 },
    });
    assert.deepEqual(mergeRotation(now, { period: '7200s' }), {
      period: '7200s',
      rotator: { type: 'random' },
    });
    assert.deepEqual(mergeRotation(now, { clearRotator: true }), {
      period: '86400s',
      nextRotationTime: '2030-01-01T00:00:00Z',
    });
    assert.equal(mergeRotation({ period: null, rotator: { type: 'random' } }, { clearRotator: true }), null);
    assert.deepEqual(mergeRotation(null, { rotator: { type: 'random' } }), { rotator: { type: 'random' } });
  });

  test('durations, DATABASE/ROLE, --db-env-prefix and the renewal delay', () => {
    assert.equal(durationSeconds('90', '--ttl'), '90s');
    assert.equal(durationSeconds('15m', '--ttl'), '900s');
    assert.equal(durationSeconds('1h', '--ttl'), '3600s');
    assert.equal(durationSeconds('7d', '--ttl'), '604800s');
    assert.throws(() => durationSeconds('1.5h', '--ttl'), /--ttl takes a duration such as/);
    assert.throws(() => durationSeconds('-1', '--max-ttl'), /--max-ttl/);
    assert.deepEqual(databaseAndRole('app', 'ro'), { database: 'app', role: 'ro' });
    assert.deepEqual(databaseAndRole('app/ro', undefined), { database: 'app', role: 'ro' });
    for (const bad of ['app', 'app/', '/ro', 'a/b/c'])
      assert.throws(() => databaseAndRole(bad, undefined), /DATABASE ROLE or DATABASE\/ROLE/);
    assert.deepEqual(dbEnvNames('PG'), {
      user: 'PGUSER',
      password: 'PGPASSWORD',
      host: 'PGHOST',
      port: 'PGPORT',
      database: 'PGDATABASE',
      sslmode: 'PGSSLMODE',
    });
    assert.equal(dbEnvNames('APP_DB_').user, 'APP_DB_USER');
    assert.throws(() => dbEnvNames('9X'), /--db-env-prefix takes letters/);
    assert.throws(() => dbEnvNames('LD_'), /would set LD_USER, which coffer run never sets/);
    assert.equal(renewDelayMs(3600), 2_400_000);
    assert.equal(renewDelayMs(1), 1000);
  });
});
