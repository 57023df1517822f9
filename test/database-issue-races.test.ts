import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { LeaseRepo } from '../src/databases/lease-repo.ts';
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
for (const engine of ['sqlite', 'postgres'] as const)
  describe(
    `issue in flight vs revoke and delete (${engine} storage, real PostgreSQL target)`,
    { skip: postgresSkip ?? false },
    () => {
      let f: DatabaseFixture;
      let locker: pg.Client;

      before(async () => {
        f = await startDatabaseFixture(engine);
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

      /** A connection `name` with role `r`, made for one test. */
      const connectionWithRole = async (name: string) => {
        const made = await f.admin().post(`${f.instanceBase}/databases`, {
          name,
          host: '127.0.0.1',
          database: f.target.name,
          adminSecret: 'db/admin',
        });
        assert.equal(made.status, 201, JSON.stringify(made.body));
        const put = await f.admin().put(`${f.instanceBase}/databases/${name}/roles/r`, {
          creationStatements: f.creation(),
          defaultTtl: '1h',
          maxTtl: '24h',
        });
        assert.equal(put.status, 201, JSON.stringify(put.body));
      };

      test('a connection deleted while an issue is in flight: the issue finds it gone (404) and creates no user', async () => {
        await connectionWithRole('gone');
        const databases = f.node.app.databases;
        const getRole = databases.getRole.bind(databases);
        // The delete lands between the issue's read of the role and its lease write.
        databases.getRole = async (...args) => {
          const found = await getRole(...args);
          assert.equal((await f.admin().del(`${f.instanceBase}/databases/gone`)).status, 204);
          return found;
        };
        try {
          const issued = await f.issue(f.node.adminToken, 'gone', 'r');
          assert.equal(issued.status, 404, JSON.stringify(issued.body));
        } finally {
          databases.getRole = getRole;
        }
        const leases = await f.node.app.storage.db
          .selectFrom('db_leases')
          .select('username')
          .where('database_name', '=', 'gone')
          .execute();
        assert.deepEqual(leases, []);
      });

      test('a connection or role with a lease issued while its delete is in flight is not deleted (409)', async () => {
        await connectionWithRole('kept');
        const hasUnrevoked = LeaseRepo.prototype.hasUnrevokedLeases;
        const issued: { lease: { id: string } }[] = [];
        // An issue completes between the delete's own look at the leases and its write.
        LeaseRepo.prototype.hasUnrevokedLeases = async function () {
          const res = await f.issue(f.node.adminToken, 'kept', 'r');
          assert.equal(res.status, 200, JSON.stringify(res.body));
          issued.push(res.body);
          return false;
        };
        try {
          const role = await f.admin().del(`${f.instanceBase}/databases/kept/roles/r`);
          assert.equal(role.status, 409, JSON.stringify(role.body));
          const connection = await f.admin().del(`${f.instanceBase}/databases/kept`);
          assert.equal(connection.status, 409, JSON.stringify(connection.body));
          assert.match(connection.body.error.message, /leases not yet revoked/);
        } finally {
          LeaseRepo.prototype.hasUnrevokedLeases = hasUnrevoked;
        }
        for (const { lease } of issued)
          assert.equal((await f.admin().post(`/v2/leases/${lease.id}/revoke`)).status, 200);
        assert.equal((await f.admin().del(`${f.instanceBase}/databases/kept`)).status, 204);
      });
    },
  );
