import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, postgresSkipReason, type TestDatabase, withAdmin } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const enc = encodeURIComponent;

/** Logs in to the target as an issued user; rejects with PostgreSQL's error. */
async function login(database: string, user: string, password: string): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port: 5432, database, user, password });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query('SELECT current_user AS u')).rows[0].u as string;
  } finally {
    await client.end();
  }
}

// The Coffer server runs on SQLite, and once on PostgreSQL storage; the target is always PostgreSQL.
for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`dynamic database credentials (server on ${engine})`, { skip: postgresSkip ?? false }, () => {
    let node: TestNode;
    let storageDb: TestDatabase | undefined;
    let target: TestDatabase;
    let projectId: string;
    let instanceBase: string;
    let passwordChecked = false;
    const issuedPasswords: string[] = [];
    const as = (token: string | undefined) => ({
      get: (path: string) => call(node.url, 'GET', path, { token }),
      post: (path: string, body: unknown = {}) => call(node.url, 'POST', path, { token, body }),
      put: (path: string, body: unknown) => call(node.url, 'PUT', path, { token, body }),
      del: (path: string) => call(node.url, 'DELETE', path, { token }),
    });
    const admin = () => as(node.adminToken);
    // Issued roles join coffer_password_auth where .ci/run made it: their password is then checked.
    const creation = () => [
      `CREATE ROLE {{name}} LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}${passwordChecked ? ' IN ROLE coffer_password_auth' : ''}`,
      'GRANT CONNECT ON DATABASE ' + target.name + ' TO {{name}}',
    ];
    async function serviceAccount(name: string): Promise<{ token: string; member: string }> {
      const created = await admin().post(`/v2/projects/${projectId}/service-accounts`, { name });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const email = created.body.email as string;
      const issued = await admin().post(
        `/v2/projects/${projectId}/service-accounts/${enc(email)}/tokens`,
        {},
      );
      assert.equal(issued.status, 201);
      return { token: issued.body.token, member: `serviceAccount:${email}` };
    }
    async function bind(resourcePath: string, role: string, member: string): Promise<void> {
      const res = await admin().post(`${resourcePath}/iam-policy:add-binding`, { role, member });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    async function issue(token: string | undefined, db: string, role: string, body: unknown = {}) {
      const res = await as(token).post(`${instanceBase}/databases/${db}/roles/${role}/issue`, body);
      if (res.status === 200) issuedPasswords.push(res.body.password);
      return res;
    }

    before(async () => {
      const env: Record<string, string> = { COFFER_REGIONS: 'eu01', COFFER_KMS_REGIONS: 'eu01' };
      if (engine === 'postgres') {
        storageDb = await createTestDatabase();
        env.COFFER_DATABASE_URL = storageDb.url;
      }
      target = await createTestDatabase();
      passwordChecked = await withAdmin(
        async (c) =>
          (await c.query("SELECT 1 FROM pg_roles WHERE rolname = 'coffer_password_auth'")).rowCount === 1,
      );
      node = await startTestNode({ env });
      projectId = (await admin().post('/v2/projects', {})).body.id;
      const instance = await admin().post(`/v2/projects/${projectId}/regions/eu01/instances`, {
        name: 'main',
      });
      instanceBase = `/v2/projects/${projectId}/regions/eu01/instances/${instance.body.id}`;
      const adminJson = {
        host: '127.0.0.1',
        port: 5432,
        database: 'postgres',
        username: 'postgres',
        password: '',
      };
      const badJson = { ...adminJson, username: 'coffer_no_such_admin' };
      for (const [path, value] of [
        ['db/admin', adminJson],
        ['db/bad-admin', badJson],
      ] as const) {
        const res = await admin().post(`${instanceBase}/secrets`, { path, value: JSON.stringify(value) });
        assert.equal(res.status, 201, JSON.stringify(res.body));
      }
      const created = await admin().post(`${instanceBase}/databases`, {
        name: 'app',
        host: '127.0.0.1',
        database: target.name,
        adminSecret: 'db/admin',
        maxOpenConnections: 2,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      for (const role of ['ro', 'other']) {
        const put = await admin().put(`${instanceBase}/databases/app/roles/${role}`, {
          creationStatements: creation(),
          defaultTtl: '1h',
          maxTtl: '24h',
        });
        assert.equal(put.status, 201, JSON.stringify(put.body));
      }
    });
    after(async () => {
      await node?.destroy();
      await storageDb?.drop();
      await target?.drop();
      // Roles are global to the cluster: drop what the tests issued (their database is gone).
      await withAdmin(async (c) => {
        const roles = await c.query(
          "SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-ro-%' OR rolname LIKE 'v-other-%' OR rolname LIKE 'v-chk-%'",
        );
        for (const { rolname } of roles.rows as { rolname: string }[])
          await c.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(rolname)}`);
      });
    });

    test('a connection and role read back as configured, the admin secret only as its reference', async () => {
      const db = await admin().get(`${instanceBase}/databases/app`);
      assert.equal(db.status, 200);
      assert.equal(db.body.adminSecret, 'db/admin');
      assert.equal(db.body.port, 5432);
      assert.equal(db.body.maxOpenConnections, 2);
      assert.match(db.body.name, /\/instances\/[^/]+\/databases\/app$/);
      const role = await admin().get(`${instanceBase}/databases/app/roles/ro`);
      assert.equal(role.status, 200);
      assert.equal(role.body.defaultTtl, '3600s');
      assert.equal(role.body.maxTtl, '86400s');
      assert.equal(role.body.renewable, true);
      assert.equal(role.body.revocationStatements, undefined);
      const list = await admin().get(`${instanceBase}/databases/app/roles`);
      assert.deepEqual(
        list.body.items.map((r: { id: string }) => r.id),
        ['other', 'ro'],
      );
      assert.equal((await admin().get(`${instanceBase}/databases`)).body.items.length, 1);
    });

    test('issue: a working login with VALID UNTIL at the lease expiry, traceable to the caller; the password is nowhere else', async () => {
      const res = await issue(node.adminToken, 'app', 'ro', { ttl: '10m' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const { username, password, lease } = res.body;
      assert.match(username, /^v-ro-[a-z0-9]{10}$/);
      assert.match(password, /^[A-Za-z0-9]{32}$/);
      assert.match(lease.id, /^l-[a-z2-7]{26}$/);
      assert.equal(lease.ttl, 600);
      assert.equal(lease.renewable, true);
      assert.equal(await login(target.name, username, password), username);
      if (passwordChecked)
        await assert.rejects(login(target.name, username, `${password}x`), /password authentication failed/);
      const [authid] = await withAdmin(
        async (c) =>
          (await c.query('SELECT rolvaliduntil, rolpassword FROM pg_authid WHERE rolname = $1', [username]))
            .rows,
      );
      assert.ok(String(authid.rolpassword).startsWith('SCRAM-SHA-256$'));
      assert.equal(new Date(authid.rolvaliduntil).toISOString(), lease.expireTime);
      // The lease records the caller and the username.
      const row = await node.app.storage.db
        .selectFrom('db_leases')
        .selectAll()
        .where('id', '=', lease.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.username, username);
      assert.equal(row.principal, 'user:admin@coffer.internal');
      assert.equal(row.state, 'active');
      // Audited (issue and the admin-secret read), never the password; not in the server log either.
      const events = await admin().get(`/v2/projects/${projectId}/audit-events?pageSize=1000`);
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
      const everything = JSON.stringify(events.body) + node.logLines.join('\n');
      for (const secret of issuedPasswords) assert.ok(!everything.includes(secret), 'a password leaked');
    });

    test('ttl defaults to the role’s, and above maxTtl is refused', async () => {
      const res = await issue(node.adminToken, 'app', 'ro');
      assert.equal(res.status, 200);
      assert.equal(res.body.lease.ttl, 3600);
      const tooLong = await issue(node.adminToken, 'app', 'ro', { ttl: '25h' });
      assert.equal(tooLong.status, 400);
      assert.equal(tooLong.body.error.code, 'invalid_argument');
    });

    test('only holders of secrets.leases.issue on the role issue: not a secretAccessor, not another role’s user', async () => {
      const accessor = await serviceAccount('db-accessor');
      await bind(instanceBase, 'roles/secretsmanager.secretAccessor', accessor.member);
      const denied = await issue(accessor.token, 'app', 'ro');
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error.code, 'permission_denied');

      const user = await serviceAccount('db-user-ro');
      await bind(
        `${instanceBase}/databases/app/roles/ro`,
        'roles/secretsmanager.databaseCredentialUser',
        user.member,
      );
      const ok = await issue(user.token, 'app', 'ro');
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(await login(target.name, ok.body.username, ok.body.password), ok.body.username);
      const other = await issue(user.token, 'app', 'other');
      assert.equal(other.status, 403);
      // Nor does the role binding let it read the configuration or the admin secret.
      assert.equal((await as(user.token).get(`${instanceBase}/databases/app`)).status, 403);
      assert.equal(
        (await as(user.token).get(`${instanceBase}/secrets/${enc('db/admin')}/value`)).status,
        403,
      );
    });

    test('naming an admin secret the caller cannot read is refused (403), on create and on update', async () => {
      const creator = await serviceAccount('db-creator');
      const roleRes = await admin().post(`/v2/projects/${projectId}/roles`, {
        roleId: 'dbAdminNoValues',
        title: 'databases without values',
        permissions: ['secrets.databases.create', 'secrets.databases.get', 'secrets.databases.update'],
      });
      assert.equal(roleRes.status, 201, JSON.stringify(roleRes.body));
      await bind(instanceBase, roleRes.body.name, creator.member);
      const body = { name: 'stolen', host: '127.0.0.1', database: target.name, adminSecret: 'db/admin' };
      const refused = await as(creator.token).post(`${instanceBase}/databases`, body);
      assert.equal(refused.status, 403, JSON.stringify(refused.body));
      const fullName = `projects/${projectId}/regions/eu01/instances/${instanceBase.split('/').at(-1)}/secrets/${enc('db/admin')}`;
      assert.equal(
        (await as(creator.token).post(`${instanceBase}/databases`, { ...body, adminSecret: fullName }))
          .status,
        403,
      );
      assert.equal((await admin().get(`${instanceBase}/databases/stolen`)).status, 404);
      const patched = await call(node.url, 'PATCH', `${instanceBase}/databases/app`, {
        token: creator.token,
        body: { adminSecret: 'db/bad-admin' },
      });
      assert.equal(patched.status, 403);
      // With access to the secret it may.
      await bind(
        `${instanceBase}/secrets/${enc('db/admin')}`,
        'roles/secretsmanager.secretAccessor',
        creator.member,
      );
      const allowed = await as(creator.token).post(`${instanceBase}/databases`, body);
      assert.equal(allowed.status, 201, JSON.stringify(allowed.body));
      // A reference that names no secret, or no valid path, is refused once access is checked.
      for (const adminSecret of ['db/missing', '../x', `${fullName}-missing`]) {
        const res = await admin().post(`${instanceBase}/databases`, {
          ...body,
          name: 'dangling',
          adminSecret,
        });
        assert.equal(res.status, 400, JSON.stringify({ adminSecret, body: res.body }));
      }
      // A secret of another project is not a valid reference at all.
      const foreign = await admin().post(`${instanceBase}/databases`, {
        ...body,
        name: 'foreign',
        adminSecret: fullName.replace(projectId, 'other-project'),
      });
      assert.equal(foreign.status, 400);
    });

    test('injection attempts: names are refused, placeholders are checked, and the generated name is quoted', async () => {
      const bad = await admin().put(
        `${instanceBase}/databases/app/roles/${enc('x"; DROP ROLE postgres; --')}`,
        {
          creationStatements: creation(),
          defaultTtl: '1h',
          maxTtl: '1h',
        },
      );
      assert.equal(bad.status, 400);
      const badDb = await admin().post(`${instanceBase}/databases`, {
        name: "a'b",
        host: '127.0.0.1',
        database: target.name,
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
        const res = await admin().put(`${instanceBase}/databases/app/roles/chk`, {
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
      const ttl = await admin().put(`${instanceBase}/databases/app/roles/chk`, {
        creationStatements: creation(),
        defaultTtl: '2h',
        maxTtl: '1h',
      });
      assert.equal(ttl.status, 400);
      assert.match(ttl.body.error.message, /defaultTtl must not exceed maxTtl/);
      // Revocation runs without a password or an expiry: only {{name}} may appear there.
      const revocation = await admin().put(`${instanceBase}/databases/app/roles/chk`, {
        creationStatements: creation(),
        revocationStatements: ['ALTER ROLE {{name}} PASSWORD {{password}}'],
        defaultTtl: '1h',
        maxTtl: '2h',
      });
      assert.equal(revocation.status, 400);
      assert.match(revocation.body.error.message, /only placeholder is \{\{name\}\}/);
      // The username holds hyphens: it only works quoted; {{expiration}} works as a literal too.
      const put = await admin().put(`${instanceBase}/databases/app/roles/chk`, {
        creationStatements: [...creation(), 'COMMENT ON ROLE {{name}} IS {{expiration}}'],
        defaultTtl: '1h',
        maxTtl: '2h',
      });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      const res = await issue(node.adminToken, 'app', 'chk');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(await login(target.name, res.body.username, res.body.password), res.body.username);
    });

    test('a wrong admin credential answers target_failed naming the database, and leaves no lease', async () => {
      const created = await admin().post(`${instanceBase}/databases`, {
        name: 'broken',
        host: '127.0.0.1',
        database: target.name,
        adminSecret: 'db/bad-admin',
      });
      assert.equal(created.status, 201);
      const put = await admin().put(`${instanceBase}/databases/broken/roles/ro`, {
        creationStatements: creation(),
        defaultTtl: '1h',
        maxTtl: '1h',
      });
      assert.equal(put.status, 201);
      const res = await issue(node.adminToken, 'broken', 'ro');
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'target_failed');
      assert.match(res.body.error.message, /database broken/);
      const leases = await node.app.storage.db
        .selectFrom('db_leases')
        .select('id')
        .where('database_name', '=', 'broken')
        .execute();
      assert.equal(leases.length, 0);
      // A failing creation statement: rolled back, no role, no lease, the password not echoed.
      const failing = await admin().put(`${instanceBase}/databases/app/roles/chk`, {
        creationStatements: [...creation(), 'SELECT {{password}}::int'],
        defaultTtl: '1h',
        maxTtl: '1h',
      });
      assert.equal(failing.status, 200);
      const before = await node.app.storage.db.selectFrom('db_leases').select('id').execute();
      const failed = await issue(node.adminToken, 'app', 'chk');
      assert.equal(failed.status, 503);
      assert.equal(failed.body.error.code, 'target_failed');
      assert.match(failed.body.error.message, /^database app: /);
      assert.match(failed.body.error.message, /\[redacted\]|invalid input syntax/);
      assert.equal(
        (await node.app.storage.db.selectFrom('db_leases').select('id').execute()).length,
        before.length,
      );
      for (const secret of issuedPasswords) assert.ok(!JSON.stringify(failed.body).includes(secret));
    });

    test('issues share a pool bounded by maxOpenConnections; an update closes it', async () => {
      const results = await Promise.all(Array.from({ length: 6 }, () => issue(node.adminToken, 'app', 'ro')));
      for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
      const open = await withAdmin(
        async (c) =>
          (
            await c.query(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'coffer' AND usename = 'postgres'",
              [target.name],
            )
          ).rows[0].n as number,
      );
      assert.ok(open >= 1 && open <= 2, `${open} admin sessions`);
      const current = await admin().get(`${instanceBase}/databases/app`);
      const stale = await call(node.url, 'PATCH', `${instanceBase}/databases/app`, {
        token: node.adminToken,
        body: { maxOpenConnections: 3, etag: 'stale' },
      });
      assert.equal(stale.status, 409);
      const patched = await call(node.url, 'PATCH', `${instanceBase}/databases/app`, {
        token: node.adminToken,
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
                [target.name],
              )
            ).rows[0].n as number,
        );
        if (left > 0) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(left, 0);
      assert.equal((await issue(node.adminToken, 'app', 'ro')).status, 200);
    });

    test('a creation whose outcome is unknown (the session dies) leaves the lease due for revocation at once', async () => {
      const put = await admin().put(`${instanceBase}/databases/app/roles/chk`, {
        creationStatements: [...creation(), 'SELECT pg_terminate_backend(pg_backend_pid())'],
        defaultTtl: '1h',
        maxTtl: '1h',
      });
      assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
      const startedMs = Date.now();
      const res = await issue(node.adminToken, 'app', 'chk');
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'target_failed');
      assert.match(res.body.error.message, /^database app: /);
      const rows = await node.app.storage.db
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
      const delRole = await admin().del(`${instanceBase}/databases/app/roles/ro`);
      assert.equal(delRole.status, 409);
      const delDb = await admin().del(`${instanceBase}/databases/app`);
      assert.equal(delDb.status, 409);
      assert.equal((await admin().del(`${instanceBase}/databases/broken/roles/ro`)).status, 204);
      assert.equal((await admin().del(`${instanceBase}/databases/broken`)).status, 204);
      assert.equal((await admin().get(`${instanceBase}/databases/broken`)).status, 404);
      const changes = await node.app.storage.db
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
      const other = await admin().post(`/v2/projects/${projectId}/regions/eu01/instances`, { name: 'dbs' });
      const otherBase = `/v2/projects/${projectId}/regions/eu01/instances/${other.body.id}`;
      const adminRef = `projects/${projectId}/regions/eu01/instances/${instanceBase.split('/').at(-1)}/secrets/${enc('db/admin')}`;
      const made = await admin().post(`${otherBase}/databases`, {
        name: 'elsewhere',
        host: '127.0.0.1',
        database: target.name,
        adminSecret: adminRef,
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const held = await admin().del(otherBase);
      assert.equal(held.status, 400);
      assert.match(held.body.error.message, /database connections/);
      assert.equal((await admin().del(`${otherBase}/databases/elsewhere`)).status, 204);
      assert.equal((await admin().del(otherBase)).status, 204);
    });
  });
}
