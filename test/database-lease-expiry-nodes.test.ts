import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pg from 'pg';
import { ManualClock } from '../src/core/clock.ts';
import { createTestDatabase, postgresSkipReason, testPostgresUrl, withAdmin } from './support/postgres.ts';
import { call, startTestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const leases = 12;

describe('lease expiry across nodes (PostgreSQL storage)', { skip: postgresSkip ?? false }, () => {
  test('two nodes racing on the same expired leases revoke each role exactly once', async (t) => {
    const storageDb = await createTestDatabase();
    const targetDb = await createTestDatabase();
    const clock = new ManualClock(Date.now());
    const env = { COFFER_DATABASE_URL: storageDb.url, COFFER_DATABASES_EXPIRY_POLL_MS: '3600000' };
    const usernames: string[] = [];
    const target = new URL(testPostgresUrl);
    const nodes = [];
    try {
      const a = await startTestNode({ env, clock });
      nodes.push(a);
      const otherDir = mkdtempSync(join(tmpdir(), 'coffer-node-b-'));
      copyFileSync(join(a.dataDir, 'seal.key'), join(otherDir, 'seal.key'));
      const b = await startTestNode({ env, clock, dataDir: otherDir });
      nodes.push(b);
      const ok = async (method: string, path: string, body: unknown, status: number) => {
        const res = await call(a.url, method, path, { token: a.adminToken!, body });
        assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(res.body)}`);
        return res.body;
      };
      const project = (await ok('POST', '/v2/projects', {}, 201)).id;
      const instance = await ok(
        'POST',
        `/v2/projects/${project}/regions/local/instances`,
        { name: 'i' },
        201,
      );
      const base = `/v2/projects/${project}/regions/local/instances/${instance.id}`;
      const admin = {
        host: target.hostname,
        port: Number(target.port || 5432),
        database: targetDb.name,
        username: decodeURIComponent(target.username),
        password: decodeURIComponent(target.password),
      };
      const connection = {
        host: admin.host,
        port: admin.port,
        database: admin.database,
        user: admin.username,
        password: admin.password,
      };
      await ok('POST', `${base}/secrets`, { path: 'db/admin', value: JSON.stringify(admin) }, 201);
      await ok(
        'POST',
        `${base}/databases`,
        {
          name: 'main',
          host: admin.host,
          port: admin.port,
          database: targetDb.name,
          adminSecret: 'db/admin',
        },
        201,
      );
      // Every run of the revocation statements leaves a row: a lease revoked twice would leave two.
      const targetClient = new pg.Client(connection);
      await targetClient.connect();
      try {
        await targetClient.query('CREATE TABLE revocations (n int)');
      } finally {
        await targetClient.end();
      }
      await ok(
        'PUT',
        `${base}/databases/main/roles/app`,
        {
          creationStatements: ['CREATE ROLE {{name}} LOGIN PASSWORD {{password}}'],
          revocationStatements: ['INSERT INTO revocations VALUES (1)', 'DROP ROLE {{name}}'],
          defaultTtl: '60s',
          maxTtl: '1h',
        },
        201,
      );
      const ids: string[] = [];
      for (let i = 0; i < leases; i++) {
        const issued = await ok('POST', `${base}/databases/main/roles/app/issue`, {}, 200);
        usernames.push(issued.username);
        ids.push(issued.lease.id);
      }
      clock.advance(61_000);
      await Promise.all([a.app.runBackgroundJobs(), b.app.runBackgroundJobs()]);

      const left = await withAdmin(
        async (client) =>
          (await client.query('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [usernames])).rowCount,
      );
      assert.equal(left, 0, 'every role was dropped');
      const check = new pg.Client(connection);
      await check.connect();
      try {
        const runs = await check.query('SELECT count(*)::int AS n FROM revocations');
        assert.equal((runs.rows[0] as { n: number }).n, leases, 'each role revoked exactly once');
      } finally {
        await check.end();
      }
      const events = await a.app.storage.db
        .selectFrom('audit_events')
        .select(['resource', 'principal'])
        .where('action', '=', 'secrets.leases.expire')
        .execute();
      assert.equal(events.length, leases, 'one expire event per lease');
      assert.deepEqual(
        new Set(events.map((e) => e.resource.split('/').at(-1))),
        new Set(ids),
        'each lease once',
      );
      for (const id of ids) {
        const view = await call(b.url, 'GET', `/v2/leases/${id}`, { token: a.adminToken! });
        assert.equal(view.body.state, 'revoked');
      }
      t.diagnostic(`${leases} leases revoked once across two nodes`);
    } finally {
      for (const node of nodes.reverse()) await node.destroy().catch(() => undefined);
      await targetDb.drop();
      await withAdmin(async (client) => {
        for (const name of usernames)
          await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(name)}`).catch(() => undefined);
      }).catch(() => undefined);
      await storageDb.drop();
    }
  });
});
