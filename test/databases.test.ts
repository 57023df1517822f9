import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { withAdmin } from './support/postgres.ts';
import { call } from './support/test-node.ts';
import { type DatabaseFixture, loginAs, startDatabaseFixture } from './support/database-fixture.ts';
import { postgresSkipReason } from './support/postgres.ts';

const postgresSkip = await postgresSkipReason();
const enc = encodeURIComponent;

// The Coffer server runs on SQLite, and once on PostgreSQL storage; the target is always PostgreSQL.
for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`dynamic database credentials (server on ${engine})`, { skip: postgresSkip ?? false }, () => {
    let f: DatabaseFixture;
    before(async () => {
      f = await startDatabaseFixture(engine);
    });
    after(async () => {
      await f?.destroy();
    });

    test('a connection and role read back as configured, the admin secret only as its reference', async () => {
      const db = await f.admin().get(`${f.instanceBase}/databases/app`);
      assert.equal(db.status, 200);
      assert.equal(db.body.adminSecret, 'db/admin');
      assert.equal(db.body.port, 5432);
      assert.equal(db.body.maxOpenConnections, 2);
      assert.match(db.body.name, /\/instances\/[^/]+\/databases\/app$/);
      const role = await f.admin().get(`${f.instanceBase}/databases/app/roles/ro`);
      assert.equal(role.status, 200);
      assert.equal(role.body.defaultTtl, '3600s');
      assert.equal(role.body.maxTtl, '86400s');
      assert.equal(role.body.renewable, true);
      assert.equal(role.body.revocationStatements, undefined);
      const list = await f.admin().get(`${f.instanceBase}/databases/app/roles`);
      assert.deepEqual(
        list.body.items.map((r: { id: string }) => r.id),
        ['other', 'ro'],
      );
      assert.equal((await f.admin().get(`${f.instanceBase}/databases`)).body.items.length, 1);
    });

    test('issue: a working login with VALID UNTIL at the lease expiry, traceable to the caller; the password is nowhere else', async () => {
      const res = await f.issue(f.node.adminToken, 'app', 'ro', { ttl: '10m' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const { username, password, lease } = res.body;
      assert.match(username, /^v-ro-[a-z0-9]{10}$/);
      assert.match(password, /^[A-Za-z0-9]{32}$/);
      assert.match(lease.id, /^l-[a-z2-7]{26}$/);
      assert.equal(lease.ttl, 600);
      assert.equal(lease.renewable, true);
      assert.equal(await loginAs(f.target.name, username, password), username);
      if (f.passwordChecked)
        await assert.rejects(
          loginAs(f.target.name, username, `${password}x`),
          /password authentication failed/,
        );
      const [authid] = await withAdmin(
        async (c) =>
          (await c.query('SELECT rolvaliduntil, rolpassword FROM pg_authid WHERE rolname = $1', [username]))
            .rows,
      );
      assert.ok(String(authid.rolpassword).startsWith('SCRAM-SHA-256$'));
      assert.equal(new Date(authid.rolvaliduntil).toISOString(), lease.expireTime);
      // The lease records the caller and the username.
      const row = await f.node.app.storage.db
        .selectFrom('db_leases')
        .selectAll()
        .where('id', '=', lease.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.username, username);
      assert.equal(row.principal, 'user:admin@coffer.internal');
      assert.equal(row.state, 'active');
      // Audited (issue and the admin-secret read), never the password; not in the server log either.
      const events = await f.admin().get(`/v2/projects/${f.projectId}/audit-events?pageSize=1000`);
      assert.equal(events.status, 200);
      const issued = events.body.items.find(
        (e: { action: string; details?: { lease?: string } }) =>
          e.action === 'secrets.leases.issue' && e.details?.lease === lease.id,
      );
      assert.ok(issued, 'an issue event');
      assert.equal(issued.details.username, username);
      assert.ok(
        events.body.items.some(
          (e: { action: string; principal: string; resource: string }) =>
            e.action === 'secrets.get_value' &&
            e.principal === 'service:secretsmanager' &&
            e.resource.endsWith('/secrets/db%2Fadmin'),
        ),
      );
      const everything = JSON.stringify(events.body) + f.node.logLines.join('\n');
      for (const secret of f.issuedPasswords) assert.ok(!everything.includes(secret), 'a password leaked');
    });

    test('ttl defaults to the role’s, and above maxTtl is refused', async () => {
      const res = await f.issue(f.node.adminToken, 'app', 'ro');
      assert.equal(res.status, 200);
      assert.equal(res.body.lease.ttl, 3600);
      const tooLong = await f.issue(f.node.adminToken, 'app', 'ro', { ttl: '25h' });
      assert.equal(tooLong.status, 400);
      assert.equal(tooLong.body.error.code, 'invalid_argument');
    });

    test('injection attempts: names are refused, placeholders are checked, and the generated name is quoted', async () => {
      const bad = await f
        .admin()
        .put(`${f.instanceBase}/databases/app/roles/${enc('x"; DROP ROLE postgres; --')}`, {
          creationStatements: f.creation(),
          defaultTtl: '1h',
          maxTtl: '1h',
        });
      assert.equal(bad.status, 400);
      const badDb = await f.admin().post(`${f.instanceBase}/databases`, {
        name: "a'b",
        host: '127.0.0.1',
        database: f.target.name,
        adminSecret: 'db/admin',
      });
      assert.equal(badDb.status, 400);
      for (const creationStatements of [
        ['CREATE ROLE {{username}}'],
        ['CREATE ROLE {{name}} PASSWORD {{ password }} {{'],
        [],
        Array.from({ length: 21 }, () => 'SELECT 1'),
        ['x'.repeat(4097)],
      ]) {
        const res = await f.admin().put(`${f.instanceBase}/databases/app/roles/chk`, {
          creationStatements,
          defaultTtl: '1h',
          maxTtl: '2h',
        });
        assert.equal(
          res.status,
          400,
          JSON.stringify({ creationStatements: creationStatements.slice(0, 2), res: res.body }),
        );
      }
      const ttl = await f.admin().put(`${f.instanceBase}/databases/app/roles/chk`, {
        creationStatements: f.creation(),
        defaultTtl: '2h',
        maxTtl: '1h',
      });
      assert.equal(ttl.status, 400);
      assert.match(ttl.body.error.message, /defaultTtl must not exceed maxTtl/);
      // Revocation runs without a password or an expiry: only {{name}} may appear there.
      const revocation = await f.admin().put(`${f.instanceBase}/databases/app/roles/chk`, {
        creationStatements: f.creation(),
        revocationStatements: ['ALTER ROLE {{name}} PASSWORD {{password}}'],
        defaultTtl: '1h',
        maxTtl: '2h',
      });
      assert.equal(revocation.status, 400);
      assert.match(revocation.body.error.message, /only placeholder is \{\{name\}\}/);
      // The username holds hyphens: it only works quoted; {{expiration}} works as a literal too.
      const put = await f.admin().put(`${f.instanceBase}/databases/app/roles/chk`, {
        creationStatements: [...f.creation(), 'COMMENT ON ROLE {{name}} IS {{expiration}}'],
        defaultTtl: '1h',
        maxTtl: '2h',
      });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      const res = await f.issue(f.node.adminToken, 'app', 'chk');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(await loginAs(f.target.name, res.body.username, res.body.password), res.body.username);
    });

    test('a wrong admin credential answers target_failed naming the database, and leaves no lease', async () => {
      const created = await f.admin().post(`${f.instanceBase}/databases`, {
        name: 'broken',
        host: '127.0.0.1',
        database: f.target.name,
        adminSecret: 'db/bad-admin',
      });
      assert.equal(created.status, 201);
      const put = await f.admin().put(`${f.instanceBase}/databases/broken/roles/ro`, {
        creationStatements: f.creation(),
        defaultTtl: '1h',
        maxTtl: '1h',
      });
      assert.equal(put.status, 201);
      const res = await f.issue(f.node.adminToken, 'broken', 'ro');
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'target_failed');
      assert.match(res.body.error.message, /database broken/);
      const leases = await f.node.app.storage.db
        .selectFrom('db_leases')
        .select('id')
        .where('database_name', '=', 'broken')
        .execute();
      assert.equal(leases.length, 0);
      // A failing creation statement: rolled back, no role, no lease, the password not echoed.
      const failing = await f.admin().put(`${f.instanceBase}/databases/app/roles/chk`, {
        creationStatements: [...f.creation(), 'SELECT {{password}}::int'],
        defaultTtl: '1h',
        maxTtl: '1h',
      });
      assert.equal(failing.status, 200);
      const before = await f.node.app.storage.db.selectFrom('db_leases').select('id').execute();
      const failed = await f.issue(f.node.adminToken, 'app', 'chk');
      assert.equal(failed.status, 503);
      assert.equal(failed.body.error.code, 'target_failed');
      assert.match(failed.body.error.message, /^database app: /);
      // The statement held the password: only its number and SQLSTATE, never PostgreSQL's message.
      assert.equal(failed.body.error.message, 'database app: statement 3 failed (SQLSTATE 22P02)');
      assert.equal(
        (await f.node.app.storage.db.selectFrom('db_leases').select('id').execute()).length,
        before.length,
      );
      for (const secret of f.issuedPasswords) assert.ok(!JSON.stringify(failed.body).includes(secret));
    });

    test('issues share a pool bounded by maxOpenConnections; an update closes it', async () => {
      const results = await Promise.all(
        Array.from({ length: 6 }, () => f.issue(f.node.adminToken, 'app', 'ro')),
      );
      for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
      const open = await withAdmin(
        async (c) =>
          (
            await c.query(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'coffer' AND usename = 'postgres'",
              [f.target.name],
            )
          ).rows[0].n as number,
      );
      assert.ok(open >= 1 && open <= 2, `${open} admin sessions`);
      const current = await f.admin().get(`${f.instanceBase}/databases/app`);
      const stale = await call(f.node.url, 'PATCH', `${f.instanceBase}/databases/app`, {
        token: f.node.adminToken,
        body: { maxOpenConnections: 3, etag: 'stale' },
      });
      assert.equal(stale.status, 409);
      const patched = await call(f.node.url, 'PATCH', `${f.instanceBase}/databases/app`, {
        token: f.node.adminToken,
        body: { maxOpenConnections: 3, etag: current.body.etag },
      });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal(patched.body.maxOpenConnections, 3);
      assert.notEqual(patched.body.etag, current.body.etag);
      // The old pool's sessions end (closed on update).
      let left = Infinity;
      for (let i = 0; i < 50 && left > 0; i++) {
        left = await withAdmin(
          async (c) =>
            (
              await c.query(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'coffer' AND usename = 'postgres'",
                [f.target.name],
              )
            ).rows[0].n as number,
        );
        if (left > 0) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(left, 0);
      assert.equal((await f.issue(f.node.adminToken, 'app', 'ro')).status, 200);
    });

    test('a creation whose outcome is unknown (the session dies) leaves the lease due for revocation at once', async () => {
      const put = await f.admin().put(`${f.instanceBase}/databases/app/roles/chk`, {
        creationStatements: [...f.creation(), 'SELECT pg_terminate_backend(pg_backend_pid())'],
        defaultTtl: '1h',
        maxTtl: '1h',
      });
      assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
      const startedMs = Date.now();
      const res = await f.issue(f.node.adminToken, 'app', 'chk');
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'target_failed');
      assert.match(res.body.error.message, /^database app: /);
      const rows = await f.node.app.storage.db
        .selectFrom('db_leases')
        .selectAll()
        .where('role_name', '=', 'chk')
        .where('issue_time', '>=', startedMs)
        .execute();
      assert.equal(rows.length, 1);
      assert.ok(Number(rows[0]!.expire_time) <= Date.now());
      assert.match(String(rows[0]!.last_error), /database app/);
    });

    test('a database or role with unrevoked leases cannot be deleted; without leases it goes with its policies', async () => {
      const delRole = await f.admin().del(`${f.instanceBase}/databases/app/roles/ro`);
      assert.equal(delRole.status, 409);
      const delDb = await f.admin().del(`${f.instanceBase}/databases/app`);
      assert.equal(delDb.status, 409);
      assert.equal((await f.admin().del(`${f.instanceBase}/databases/broken/roles/ro`)).status, 204);
      assert.equal((await f.admin().del(`${f.instanceBase}/databases/broken`)).status, 204);
      assert.equal((await f.admin().get(`${f.instanceBase}/databases/broken`)).status, 404);
      const changes = await f.node.app.storage.db
        .selectFrom('change_log')
        .select(['kind', 'resource'])
        .where('kind', 'like', 'database.%')
        .execute();
      const kinds = new Set(changes.map((c) => c.kind));
      for (const kind of [
        'database.created',
        'database.role.put',
        'database.role.deleted',
        'database.deleted',
      ])
        assert.ok(kinds.has(kind), kind);
      // An instance holding only a database connection (its admin secret named in another instance)
      // is not deleted from under it.
      const other = await f
        .admin()
        .post(`/v2/projects/${f.projectId}/regions/eu01/instances`, { name: 'dbs' });
      const otherBase = `/v2/projects/${f.projectId}/regions/eu01/instances/${other.body.id}`;
      const adminRef = `projects/${f.projectId}/regions/eu01/instances/${f.instanceBase.split('/').at(-1)}/secrets/${enc('db/admin')}`;
      const made = await f.admin().post(`${otherBase}/databases`, {
        name: 'elsewhere',
        host: '127.0.0.1',
        database: f.target.name,
        adminSecret: adminRef,
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const held = await f.admin().del(otherBase);
      assert.equal(held.status, 400);
      assert.match(held.body.error.message, /database connections/);
      assert.equal((await f.admin().del(`${otherBase}/databases/elsewhere`)).status, 204);
      assert.equal((await f.admin().del(otherBase)).status, 204);
    });
  });
}
