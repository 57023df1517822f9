import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type DatabaseFixture, startDatabaseFixture } from './support/database-fixture.ts';
import { postgresSkipReason, withAdmin } from './support/postgres.ts';

const postgresSkip = await postgresSkipReason();
const enc = encodeURIComponent;

/**
 * A holder of `secrets.databases.update` who can read only a weak admin secret must not get SQL or
 * a host of theirs run with the strong admin credential: not by switching the connection to the
 * weak secret, nor by writing roles or a host while it legitimately names the weak one and waiting
 * for an admin to switch it back.
 */
describe(
  'switching the admin secret of a database connection (real PostgreSQL target)',
  { skip: postgresSkip ?? false },
  () => {
    let f: DatabaseFixture;
    let editor: { token: string; member: string };
    let target: { host: string; port: number; database: string };

    before(async () => {
      f = await startDatabaseFixture('sqlite');
      const B = f.instanceBase;
      const weak = { host: 'x', database: 'postgres', username: 'coffer_no_such_admin', password: 'weak' };
      assert.equal(
        (await f.admin().post(`${B}/secrets`, { path: 'db/weak', value: JSON.stringify(weak) })).status,
        201,
      );
      const role = await f.admin().post(`/v2/projects/${f.projectId}/roles`, {
        roleId: 'dbEditor',
        title: 'db editor',
        permissions: ['secrets.databases.get', 'secrets.databases.update'],
      });
      assert.equal(role.status, 201, JSON.stringify(role.body));
      editor = await f.serviceAccount('db-editor');
      await f.bind(`${B}/databases/app`, role.body.name, editor.member);
      await f.bind(`${B}/secrets/${enc('db/weak')}`, 'roles/secretsmanager.secretAccessor', editor.member);
      target = { host: '127.0.0.1', port: 5432, database: f.target.name };
    });
    after(async () => {
      await f?.destroy();
    });

    test('detaching the current admin secret needs get_value on it, and a switch must restate host, port and database', async () => {
      const B = f.instanceBase;
      const me = f.as(editor.token);
      const swapped = await me.patch(`${B}/databases/app`, { adminSecret: 'db/weak', ...target });
      assert.equal(swapped.status, 403, JSON.stringify(swapped.body));
      const partial = await f.admin().patch(`${B}/databases/app`, { adminSecret: 'db/weak' });
      assert.equal(partial.status, 400, JSON.stringify(partial.body));
      assert.equal(partial.body.error.code, 'invalid_argument');
      assert.equal((await f.admin().get(`${B}/databases/app`)).body.adminSecret, 'db/admin');
    });

    test('roles and a host written under a weak admin secret are not used once the strong one is back', async () => {
      const B = f.instanceBase;
      const me = f.as(editor.token);
      const before = await f.issue(f.node.adminToken, 'app', 'ro');
      assert.equal(before.status, 200, JSON.stringify(before.body));
      // An admin points the connection at the weak secret (an outage, a test); the editor may then act.
      assert.equal(
        (await f.admin().patch(`${B}/databases/app`, { adminSecret: 'db/weak', ...target })).status,
        200,
      );
      const evil = await me.put(`${B}/databases/app/roles/evil`, {
        creationStatements: ['CREATE ROLE {{name}} LOGIN SUPERUSER PASSWORD {{password}}'],
        defaultTtl: '1h',
        maxTtl: '1h',
      });
      assert.equal(evil.status, 201, JSON.stringify(evil.body));
      const ro = await me.put(`${B}/databases/app/roles/ro`, {
        creationStatements: f.creation(),
        revocationStatements: ['ALTER ROLE {{name}} NOLOGIN'],
        defaultTtl: '1h',
        maxTtl: '24h',
      });
      assert.equal(ro.status, 200, JSON.stringify(ro.body));
      assert.equal((await me.patch(`${B}/databases/app`, { port: 6543 })).status, 200);
      // Switching back must restate where the strong credential goes: the planted port is not kept.
      assert.equal((await f.admin().patch(`${B}/databases/app`, { adminSecret: 'db/admin' })).status, 400);
      const back = await f.admin().patch(`${B}/databases/app`, { adminSecret: 'db/admin', ...target });
      assert.equal(back.status, 200, JSON.stringify(back.body));
      assert.equal(back.body.port, 5432);
      // The roles written under the weak secret are not issued with the strong one.
      const issued = await f.issue(f.node.adminToken, 'app', 'evil');
      assert.equal(issued.status, 400, JSON.stringify(issued.body));
      assert.equal(issued.body.error.code, 'failed_precondition');
      assert.match(issued.body.error.message, /another admin secret.*PUT it again/);
      // A lease of a role rewritten meanwhile is revoked with the default statements, not the planted ones.
      const revoked = await f.admin().post(`/v2/leases/${before.body.lease.id}/revoke`);
      assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
      const left = await withAdmin((c) =>
        c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [before.body.username]),
      );
      assert.equal(left.rowCount, 0);
      // Put again by an admin who can read the current secret, the role is issued.
      const put = await f.admin().put(`${B}/databases/app/roles/ro`, {
        creationStatements: f.creation(),
        defaultTtl: '1h',
        maxTtl: '24h',
      });
      assert.equal(put.status, 200);
      const again = await f.issue(f.node.adminToken, 'app', 'ro');
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal((await f.admin().post(`/v2/leases/${again.body.lease.id}/revoke`)).status, 200);
    });
  },
);
