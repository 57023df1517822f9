import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call } from './support/test-node.ts';
import { type DatabaseFixture, loginAs, startDatabaseFixture } from './support/database-fixture.ts';
import { postgresSkipReason } from './support/postgres.ts';

const postgresSkip = await postgresSkipReason();
const enc = encodeURIComponent;

// The Coffer server runs on SQLite, and once on PostgreSQL storage; the target is always PostgreSQL.
for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `dynamic database credentials: who may do what (server on ${engine})`,
    { skip: postgresSkip ?? false },
    () => {
      let f: DatabaseFixture;
      before(async () => {
        f = await startDatabaseFixture(engine);
      });
      after(async () => {
        await f?.destroy();
      });

      test('only holders of secrets.leases.issue on the role issue: not a secretAccessor, not another role’s user', async () => {
        const accessor = await f.serviceAccount('db-accessor');
        await f.bind(f.instanceBase, 'roles/secretsmanager.secretAccessor', accessor.member);
        const denied = await f.issue(accessor.token, 'app', 'ro');
        assert.equal(denied.status, 403);
        assert.equal(denied.body.error.code, 'permission_denied');

        const user = await f.serviceAccount('db-user-ro');
        await f.bind(
          `${f.instanceBase}/databases/app/roles/ro`,
          'roles/secretsmanager.databaseCredentialUser',
          user.member,
        );
        const ok = await f.issue(user.token, 'app', 'ro');
        assert.equal(ok.status, 200, JSON.stringify(ok.body));
        assert.equal(await loginAs(f.target.name, ok.body.username, ok.body.password), ok.body.username);
        const other = await f.issue(user.token, 'app', 'other');
        assert.equal(other.status, 403);
        // Nor does the role binding let it read the configuration or the admin secret.
        assert.equal((await f.as(user.token).get(`${f.instanceBase}/databases/app`)).status, 403);
        assert.equal(
          (await f.as(user.token).get(`${f.instanceBase}/secrets/${enc('db/admin')}/value`)).status,
          403,
        );
      });

      test('a binding on the database covers its roles; policies on databases and roles read back', async () => {
        const user = await f.serviceAccount('db-user-all');
        await f.bind(
          `${f.instanceBase}/databases/app`,
          'roles/secretsmanager.databaseCredentialUser',
          user.member,
        );
        for (const role of ['ro', 'other'])
          assert.equal((await f.issue(user.token, 'app', role)).status, 200);
        const policy = await f.admin().get(`${f.instanceBase}/databases/app/iam-policy`);
        assert.equal(policy.status, 200);
        assert.deepEqual(policy.body.bindings[0].members, [user.member]);
        assert.equal(
          (await f.admin().get(`${f.instanceBase}/databases/app/roles/none/iam-policy`)).status,
          404,
        );
        assert.equal((await f.admin().get(`${f.instanceBase}/databases/none/iam-policy`)).status, 404);
      });

      test('acting with an admin secret the caller cannot read is refused (403): naming it, pointing its connection elsewhere, writing role SQL', async () => {
        const creator = await f.serviceAccount('db-creator');
        const roleRes = await f.admin().post(`/v2/projects/${f.projectId}/roles`, {
          roleId: 'dbAdminNoValues',
          title: 'databases without values',
          permissions: ['secrets.databases.create', 'secrets.databases.get', 'secrets.databases.update'],
        });
        assert.equal(roleRes.status, 201, JSON.stringify(roleRes.body));
        await f.bind(f.instanceBase, roleRes.body.name, creator.member);
        const body = { name: 'stolen', host: '127.0.0.1', database: f.target.name, adminSecret: 'db/admin' };
        const refused = await f.as(creator.token).post(`${f.instanceBase}/databases`, body);
        assert.equal(refused.status, 403, JSON.stringify(refused.body));
        const fullName = `projects/${f.projectId}/regions/eu01/instances/${f.instanceBase.split('/').at(-1)}/secrets/${enc('db/admin')}`;
        assert.equal(
          (await f.as(creator.token).post(`${f.instanceBase}/databases`, { ...body, adminSecret: fullName }))
            .status,
          403,
        );
        assert.equal((await f.admin().get(`${f.instanceBase}/databases/stolen`)).status, 404);
        const patched = await call(f.node.url, 'PATCH', `${f.instanceBase}/databases/app`, {
          token: creator.token,
          body: { adminSecret: 'db/bad-admin' },
        });
        assert.equal(patched.status, 403);
        // Nor point the connection elsewhere (a host of one's own would receive the admin password),
        // nor write the SQL that runs as the admin; a pool size is harmless.
        for (const body of [
          { host: '127.0.0.2' },
          { port: 5433 },
          { database: 'postgres' },
          { sslmode: 'require' },
        ]) {
          const res = await call(f.node.url, 'PATCH', `${f.instanceBase}/databases/app`, {
            token: creator.token,
            body,
          });
          assert.equal(res.status, 403, JSON.stringify(body));
        }
        const pool = await call(f.node.url, 'PATCH', `${f.instanceBase}/databases/app`, {
          token: creator.token,
          body: { maxOpenConnections: 2 },
        });
        assert.equal(pool.status, 200, JSON.stringify(pool.body));
        const sql = await f.as(creator.token).put(`${f.instanceBase}/databases/app/roles/ro`, {
          creationStatements: ['ALTER ROLE postgres PASSWORD {{password}}'],
          defaultTtl: '1h',
          maxTtl: '1h',
        });
        assert.equal(sql.status, 403);
        // With access to the secret it may.
        await f.bind(
          `${f.instanceBase}/secrets/${enc('db/admin')}`,
          'roles/secretsmanager.secretAccessor',
          creator.member,
        );
        const allowed = await f.as(creator.token).post(`${f.instanceBase}/databases`, body);
        assert.equal(allowed.status, 201, JSON.stringify(allowed.body));
        // A reference that names no secret, or no valid path, is refused once access is checked.
        for (const adminSecret of ['db/missing', '../x', `${fullName}-missing`]) {
          const res = await f.admin().post(`${f.instanceBase}/databases`, {
            ...body,
            name: 'dangling',
            adminSecret,
          });
          assert.equal(res.status, 400, JSON.stringify({ adminSecret, body: res.body }));
        }
        // A secret of another project is not a valid reference at all.
        const foreign = await f.admin().post(`${f.instanceBase}/databases`, {
          ...body,
          name: 'foreign',
          adminSecret: fullName.replace(f.projectId, 'other-project'),
        });
        assert.equal(foreign.status, 400);
      });
    },
  );
}
