import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { revocationLockKey } from '../src/databases/role-revoker.ts';
import { type DatabaseFixture, startDatabaseFixture } from './support/database-fixture.ts';
import { postgresSkipReason, withAdmin } from './support/postgres.ts';

const postgresSkip = await postgresSkipReason();

const roleExists = (username: string) =>
  withAdmin(
    async (c) => (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username])).rowCount === 1,
  );

/**
 * Races of issue with revocation and deletion, made deterministic by holding, from the test, the
 * per-database advisory lock an issue takes before it creates its role: the issue is then in flight
 * (its lease written, its role not yet created) for as long as the test wants.
 */
describe(
  'issue in flight vs revoke and delete (real PostgreSQL target)',
  { skip: postgresSkip ?? false },
  () => {
    let f: DatabaseFixture;
    let locker: pg.Client;

    before(async () => {
      f = await startDatabaseFixture('sqlite');
      locker = new pg.Client({ connectionString: f.target.url });
      locker.on('error', () => undefined);
      await locker.connect();
    });
    after(async () => {
      await locker?.end().catch(() => undefined);
      await f?.destroy();
    });

    /** Holds the issue lock; resolves once `waiters` sessions wait for it (or after `maxMs`). */
    const holdLock = async () => {
      await locker.query(`BEGIN; SELECT pg_advisory_xact_lock(${revocationLockKey})`);
      return {
        waiters: async (n: number, maxMs = 5000) => {
          for (const end = Date.now() + maxMs; Date.now() < end; await delay(10)) {
            const { rows } = await locker.query(
              `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
            );
            if (rows[0].n >= n) return true;
          }
          return false;
        },
        release: () => locker.query('COMMIT'),
      };
    };

    test('a lease revoked while its issue is in flight gets no working credential: the issue answers 409 and the role is dropped', async () => {
      const lock = await holdLock();
      const issuing = f.issue(f.node.adminToken, 'app', 'ro');
      assert.ok(await lock.waiters(1), 'the issue waits for the lock');
      const listed = await f.admin().get(`${f.instanceBase}/databases/app/leases?role=ro&state=active`);
      assert.equal(listed.status, 200);
      assert.equal(listed.body.items.length, 1);
      const lease = listed.body.items[0] as { id: string; username: string };
      const revoking = f.admin().post(`/v2/leases/${lease.id}/revoke`);
      // The revocation looks for the role under the same lock (before the fix it answered at once).
      await Promise.race([lock.waiters(2), revoking]);
      await lock.release();
      const [issued, revoked] = await Promise.all([issuing, revoking]);
      assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
      assert.equal(revoked.body.state, 'revoked');
      assert.equal(issued.status, 409, JSON.stringify(issued.body));
      assert.equal(issued.body.error.code, 'conflict');
      assert.match(issued.body.error.message, /revoked while it was being issued/);
      assert.equal(await roleExists(lease.username), false);
      assert.equal((await f.admin().get(`/v2/leases/${lease.id}`)).body.state, 'revoked');
    });
  },
);
