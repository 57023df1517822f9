import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase, withAdmin } from './postgres.ts';
import { call, startTestNode, type TestNode } from './test-node.ts';

const enc = encodeURIComponent;

/** Logs in to the target as an issued user; resolves with `current_user`, rejects with PostgreSQL's error. */
export async function loginAs(database: string, user: string, password: string): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port: 5432, database, user, password });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query('SELECT current_user AS u')).rows[0].u as string;
  } finally {
    await client.end();
  }
}

/** A client of the node with one token. */
export interface As {
  get(path: string): ReturnType<typeof call>;
  post(path: string, body?: unknown): ReturnType<typeof call>;
  put(path: string, body: unknown): ReturnType<typeof call>;
  patch(path: string, body: unknown): ReturnType<typeof call>;
  del(path: string): ReturnType<typeof call>;
}

/**
 * A Coffer node (SQLite, or PostgreSQL storage) with a project, an instance `main`, admin secrets
 * `db/admin` (the local PostgreSQL superuser) and `db/bad-admin` (a user that does not exist), and
 * a database connection `app` on a fresh target database with roles `ro` and `other`.
 */
export interface DatabaseFixture {
  readonly node: TestNode;
  readonly target: TestDatabase;
  readonly projectId: string;
  readonly instanceBase: string;
  /** Whether issued roles join `coffer_password_auth` (made by .ci/run): their password is then checked. */
  readonly passwordChecked: boolean;
  /** Every password issued through `issue` (to prove none leaks). */
  readonly issuedPasswords: string[];
  as(token: string | undefined): As;
  admin(): As;
  /** Creation statements that make a login role, valid until the lease expiry. */
  creation(): string[];
  serviceAccount(name: string): Promise<{ token: string; member: string }>;
  bind(resourcePath: string, role: string, member: string): Promise<void>;
  issue(token: string | undefined, db: string, role: string, body?: unknown): ReturnType<typeof call>;
  /** Stops the node, drops the databases and every role the node issued. */
  destroy(): Promise<void>;
}

/** Starts the fixture. */
export async function startDatabaseFixture(engine: 'sqlite' | 'postgres'): Promise<DatabaseFixture> {
  const env: Record<string, string> = { COFFER_REGIONS: 'eu01', COFFER_KMS_REGIONS: 'eu01' };
  const storageDb = engine === 'postgres' ? await createTestDatabase() : undefined;
  if (storageDb) env.COFFER_DATABASE_URL = storageDb.url;
  const target = await createTestDatabase();
  const passwordChecked = await withAdmin(
    async (c) =>
      (await c.query("SELECT 1 FROM pg_roles WHERE rolname = 'coffer_password_auth'")).rowCount === 1,
  );
  const node = await startTestNode({ env });
  const issuedPasswords: string[] = [];
  const as = (token: string | undefined): As => ({
    get: (path) => call(node.url, 'GET', path, { token }),
    post: (path, body = {}) => call(node.url, 'POST', path, { token, body }),
    put: (path, body) => call(node.url, 'PUT', path, { token, body }),
    patch: (path, body) => call(node.url, 'PATCH', path, { token, body }),
    del: (path) => call(node.url, 'DELETE', path, { token }),
  });
  const admin = () => as(node.adminToken);
  const creation = () => [
    `CREATE ROLE {{name}} LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}${passwordChecked ? ' IN ROLE coffer_password_auth' : ''}`,
    `GRANT CONNECT ON DATABASE ${target.name} TO {{name}}`,
  ];
  const destroy = async () => {
    const issued = await node.app.storage.db
      .selectFrom('db_leases')
      .select('username')
      .execute()
      .catch(() => []);
    await node.destroy();
    await storageDb?.drop();
    await target.drop();
    // Roles are global to the cluster: drop the ones this node issued (their database is gone).
    await withAdmin(async (c) => {
      for (const { username } of issued)
        await c.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(username)}`);
    });
  };
  try {
    const projectId = (await admin().post('/v2/projects', {})).body.id as string;
    const instance = await admin().post(`/v2/projects/${projectId}/regions/eu01/instances`, { name: 'main' });
    const instanceBase = `/v2/projects/${projectId}/regions/eu01/instances/${instance.body.id}`;
    const adminJson = {
      host: '127.0.0.1',
      port: 5432,
      database: 'postgres',
      username: 'postgres',
      password: '',
    };
    for (const [path, value] of [
      ['db/admin', adminJson],
      ['db/bad-admin', { ...adminJson, username: 'coffer_no_such_admin' }],
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
    return {
      node,
      target,
      projectId,
      instanceBase,
      passwordChecked,
      issuedPasswords,
      as,
      admin,
      creation,
      async serviceAccount(name) {
        const made = await admin().post(`/v2/projects/${projectId}/service-accounts`, { name });
        assert.equal(made.status, 201, JSON.stringify(made.body));
        const email = made.body.email as string;
        const token = await admin().post(
          `/v2/projects/${projectId}/service-accounts/${enc(email)}/tokens`,
          {},
        );
        assert.equal(token.status, 201);
        return { token: token.body.token, member: `serviceAccount:${email}` };
      },
      async bind(resourcePath, role, member) {
        const res = await admin().post(`${resourcePath}/iam-policy:add-binding`, { role, member });
        assert.equal(res.status, 200, JSON.stringify(res.body));
      },
      async issue(token, db, role, body = {}) {
        const res = await as(token).post(`${instanceBase}/databases/${db}/roles/${role}/issue`, body);
        if (res.status === 200) issuedPasswords.push(res.body.password);
        return res;
      },
      destroy,
    };
  } catch (err) {
    await destroy().catch(() => undefined);
    throw err;
  }
}
