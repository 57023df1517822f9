import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { ManualClock } from '../src/core/clock.ts';
import { stmt } from '../src/storage/storage-types.ts';
import {
  createTestDatabase,
  postgresSkipReason,
  type TestDatabase,
  testPostgresUrl,
  withAdmin,
} from './support/postgres.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const target = new URL(testPostgresUrl);
const pgHost = target.hostname;
const pgPort = Number(target.port || 5432);
const creation = [
  'CREATE ROLE {{name}} LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}',
  'GRANT CREATE ON SCHEMA public TO {{name}}',
];

/** Whether a role exists on the test server. */
async function roleExists(name: string): Promise<boolean> {
  return withAdmin(async (client) => {
    const result = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
    return (result.rowCount ?? 0) > 0;
  });
}

describe('dynamic credential leases (real PostgreSQL target)', { skip: postgresSkip ?? false }, () => {
  let node: TestNode;
  let admin: string;
  let targetDb: TestDatabase;
  let proxy: TcpProxy;
  let instancePath: string;
  let projectId: string;
  const clock = new ManualClock(Date.now());
  const issuedNames: string[] = [];

  const api = (method: string, path: string, body?: unknown, token = admin) =>
    call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
  const ok = async (method: string, path: string, body?: unknown, status = 200, token = admin) => {
    const res = await api(method, path, body, token);
    assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const db = (name: string) => `${instancePath}/databases/${name}`;
  const issue = async (database: string, role: string, body: unknown = {}, token = admin) => {
    const issued = await ok('POST', `${db(database)}/roles/${role}/issue`, body, 200, token);
    issuedNames.push(issued.username);
    return issued as { username: string; password: string; lease: { id: string; expireTime: string } };
  };
  const lease = (id: string, token = admin) => api('GET', `/v2/leases/${id}`, undefined, token);
  const login = async (credential: { username: string; password: string }) => {
    const client = new pg.Client({
      host: pgHost,
      port: pgPort,
      database: targetDb.name,
      user: credential.username,
      password: credential.password,
      connectionTimeoutMillis: 3000,
    });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };
  const serviceAccount = async (name: string) => {
    const created = await ok('POST', `/v2/projects/${projectId}/service-accounts`, { name }, 201);
    const email = created.email as string;
    const path = `/v2/projects/${projectId}/service-accounts/${encodeURIComponent(email)}/tokens`;
    const issued = await ok('POST', path, {}, 201);
    return { token: issued.token as string, member: `serviceAccount:${email}` };
  };
  const auditOf = (action: string, leaseId: string) =>
    node.app.storage.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', action)
      .where('resource', 'like', `%/leases/${leaseId}`)
      .execute();

  before(async () => {
    targetDb = await createTestDatabase();
    proxy = await startTcpProxy(pgHost, pgPort);
    // The expiry job runs when the test says (runBackgroundJobs), not on its own timer.
    node = await startTestNode({ clock, env: { COFFER_DATABASES_EXPIRY_POLL_MS: '3600000' } });
    admin = node.adminToken!;
    projectId = (await ok('POST', '/v2/projects', {}, 201)).id;
    const instance = await ok(
      'POST',
      `/v2/projects/${projectId}/regions/local/instances`,
      { name: 'main' },
      201,
    );
    instancePath = `/v2/projects/${projectId}/regions/local/instances/${instance.id}`;
    const adminLogin = {
      host: pgHost,
      port: pgPort,
      database: targetDb.name,
      username: decodeURIComponent(target.username),
      password: decodeURIComponent(target.password),
    };
    await ok('POST', `${instancePath}/secrets`, { path: 'db/admin', value: JSON.stringify(adminLogin) }, 201);
    const database = { host: pgHost, database: targetDb.name, adminSecret: 'db/admin' };
    await ok('POST', `${instancePath}/databases`, { name: 'main', port: pgPort, ...database }, 201);
    await ok('POST', `${instancePath}/databases`, { name: 'flaky', port: proxy.port, ...database }, 201);
    for (const [database, role, extra] of [
      ['main', 'app', {}],
      ['main', 'other', {}],
      ['main', 'short', { defaultTtl: '60s', maxTtl: '120s' }],
      ['main', 'fixed', { renewable: false }],
      ['flaky', 'app', {}],
    ] as const)
      await ok(
        'PUT',
        `${db(database)}/roles/${role}`,
        { creationStatements: creation, defaultTtl: '1h', maxTtl: '24h', ...extra },
        201,
      );
  });
  after(async () => {
    await node?.destroy();
    await proxy?.close();
    // Roles are server-wide: drop the database first (it holds their grants), then whatever role a
    // test left behind.
    await targetDb?.drop();
    await withAdmin(async (client) => {
      for (const name of issuedNames)
        await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(name)}`).catch(() => undefined);
    }).catch(() => undefined);
  });

  test('an expired lease is revoked by the expiry job: role dropped, lease revoked, audited as secrets.leases.expire', async () => {
    const credential = await issue('main', 'app', { ttl: '60s' });
    const session = await login(credential);
    await session.end();
    clock.advance(30_000);
    await node.app.runBackgroundJobs();
    assert.equal(await roleExists(credential.username), true, 'not yet due');
    clock.advance(31_000);
    await node.app.runBackgroundJobs();
    assert.equal(await roleExists(credential.username), false);
    const view = (await lease(credential.lease.id)).body;
    assert.equal(view.state, 'revoked');
    assert.ok(view.revokeTime);
    const events = await auditOf('secrets.leases.expire', credential.lease.id);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.principal, 'service:secretsmanager');
    assert.equal(events[0]!.project_id, projectId);
  });

  test('a lease revoked while its user holds an open session: the session is terminated and the role dropped', async () => {
    const credential = await issue('main', 'app');
    const session = await login(credential);
    try {
      await session.query('CREATE TABLE left_behind (x int)');
      const revoked = await ok('POST', `/v2/leases/${credential.lease.id}/revoke`);
      assert.equal(revoked.state, 'revoked');
      assert.equal(revoked.username, credential.username);
      await assert.rejects(session.query('SELECT 1'), 'the open session was terminated');
      assert.equal(await roleExists(credential.username), false);
      await assert.rejects(login(credential), 'the login is gone');
      // Revoking again answers the revoked lease.
      assert.equal((await ok('POST', `/v2/leases/${credential.lease.id}/revoke`)).state, 'revoked');
      const events = await auditOf('secrets.leases.revoke', credential.lease.id);
      assert.equal(events.length, 2);
      assert.equal(events[0]!.project_id, projectId);
    } finally {
      await session.end().catch(() => undefined);
    }
  });

  test('PostgreSQL down: the lease stays in revocation with backoff (revoke_failed after many attempts, still retried) and is revoked once the server is back', async () => {
    const credential = await issue('flaky', 'app');
    await proxy.cut();
    try {
      const refused = await api('POST', `/v2/leases/${credential.lease.id}/revoke`);
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal(refused.body.error.code, 'target_failed');
      assert.match(refused.body.error.message, /database flaky/);
      let view = (await lease(credential.lease.id)).body;
      assert.equal(view.state, 'revoking');
      assert.equal(view.attempts, 1);
      assert.match(view.lastError, /database flaky/);
      const firstRetry = Date.parse(view.nextAttemptTime);
      // Not due yet: nothing happens.
      await node.app.runBackgroundJobs();
      assert.equal((await lease(credential.lease.id)).body.attempts, 1);
      // Each due retry fails and backs off further, until the lease reports revoke_failed.
      let previousDelay = firstRetry - clock.nowMs();
      for (let i = 0; i < 20 && view.state !== 'revoke_failed'; i++) {
        clock.advance(Date.parse(view.nextAttemptTime) - clock.nowMs() + 1);
        await node.app.runBackgroundJobs();
        view = (await lease(credential.lease.id)).body;
        const delay = Date.parse(view.nextAttemptTime) - clock.nowMs();
        assert.ok(delay <= 300_000, 'capped at the max backoff');
        if (view.state === 'revoking') assert.ok(delay >= previousDelay * 0.5, 'backs off');
        previousDelay = delay;
      }
      assert.equal(view.state, 'revoke_failed');
      assert.equal(view.attempts, 10);
      // The lease gauges (docs/metrics.md) count it, for CofferLeaseRevokeFailed.
      const scraped = await node.server.inject({
        method: 'GET',
        url: '/v2/sys/metrics',
        headers: { authorization: `Bearer ${admin}` },
      });
      assert.equal(scraped.statusCode, 200, scraped.body);
      assert.match(scraped.body, /^coffer_leases\{state="revoke_failed"\} 1$/m);
      assert.match(scraped.body, /^coffer_leases_expiring \d+$/m);
      const failed = await ok('GET', `${db('flaky')}/leases?state=revoke_failed`);
      assert.deepEqual(
        failed.items.map((l: { id: string }) => l.id),
        [credential.lease.id],
      );
      assert.equal(await roleExists(credential.username), true);
      assert.ok(node.logLines.some((line) => line.includes('lease revocation keeps failing')));
    } finally {
      await proxy.restore();
    }
    clock.advance(300_001);
    await node.app.runBackgroundJobs();
    assert.equal((await lease(credential.lease.id)).body.state, 'revoked');
    assert.equal(await roleExists(credential.username), false);
  });

  test('renew is bounded by the role maxTtl from issue time and moves VALID UNTIL on the server', async () => {
    const credential = await issue('main', 'short');
    const issued = (await lease(credential.lease.id)).body;
    assert.equal(Date.parse(issued.maxExpireTime) - Date.parse(issued.issueTime), 120_000);
    clock.advance(10_000);
    // Without an increment: now + defaultTtl (60 s).
    const renewed = await ok('POST', `/v2/leases/${credential.lease.id}/renew`);
    assert.equal(Date.parse(renewed.expireTime), clock.nowMs() + 60_000);
    const bounded = await ok('POST', `/v2/leases/${credential.lease.id}/renew`, { increment: '1h' });
    assert.equal(bounded.expireTime, issued.maxExpireTime);
    const validUntil = await withAdmin(async (client) => {
      const result = await client.query('SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1', [
        credential.username,
      ]);
      return (result.rows[0] as { rolvaliduntil: Date }).rolvaliduntil.toISOString();
    });
    assert.equal(validUntil, issued.maxExpireTime);
    // Past its expiry a lease no longer renews; a non-renewable role's lease never does.
    clock.advance(120_000);
    const late = await api('POST', `/v2/leases/${credential.lease.id}/renew`);
    assert.equal(late.status, 400);
    assert.equal(late.body.error.code, 'failed_precondition');
    const fixed = await issue('main', 'fixed');
    const refused = await api('POST', `/v2/leases/${fixed.lease.id}/renew`, { increment: '60s' });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error.message, /not renewable/);
    const bad = await api('POST', `/v2/leases/${fixed.lease.id}/renew`, { increment: 'forever' });
    assert.equal(bad.status, 400);
    await node.app.runBackgroundJobs();
    assert.equal((await lease(credential.lease.id)).body.state, 'revoked');
  });

  test('another principal cannot read, renew or revoke my lease (403, as for an unknown id); an admin of the database may read and revoke it but not renew it', async () => {
    const alice = await serviceAccount('lease-alice');
    const bob = await serviceAccount('lease-bob');
    for (const member of [alice.member, bob.member])
      await ok('POST', `${db('main')}/roles/app/iam-policy:add-binding`, {
        role: 'roles/secretsmanager.databaseCredentialUser',
        member,
      });
    const mine = await issue('main', 'app', {}, alice.token);
    assert.equal((await lease(mine.lease.id, alice.token)).body.principal, alice.member);
    const unknown = await api('GET', '/v2/leases/l-aaaaaaaaaaaaaaaaaaaaaaaaaa', undefined, bob.token);
    for (const [method, suffix] of [
      ['GET', ''],
      ['POST', '/renew'],
      ['POST', '/revoke'],
    ] as const) {
      const res = await api(method, `/v2/leases/${mine.lease.id}${suffix}`, undefined, bob.token);
      assert.equal(res.status, 403, `${method} ${suffix}: ${JSON.stringify(res.body)}`);
      assert.ok(!JSON.stringify(res.body).includes(mine.username), 'nothing of the lease is revealed');
    }
    assert.equal(unknown.status, 403);
    const bobList = await api('GET', `${db('main')}/leases`, undefined, bob.token);
    assert.equal(bobList.status, 403);
    assert.equal(await roleExists(mine.username), true);
    // The admin (owner at the root) reads and lists it, but renewing someone else's lease is refused.
    assert.equal((await lease(mine.lease.id)).status, 200);
    const listed = await ok('GET', `${db('main')}/leases?role=app&state=active`);
    assert.ok(listed.items.some((l: { id: string }) => l.id === mine.lease.id));
    assert.equal((await api('POST', `/v2/leases/${mine.lease.id}/renew`)).status, 403);
    // Alice renews while she may issue on the role; once the grant is gone, she no longer can.
    assert.equal((await api('POST', `/v2/leases/${mine.lease.id}/renew`, {}, alice.token)).status, 200);
    await ok('POST', `${db('main')}/roles/app/iam-policy:remove-binding`, {
      role: 'roles/secretsmanager.databaseCredentialUser',
      member: alice.member,
    });
    await node.app.syncChanges();
    const revokedGrant = await api('POST', `/v2/leases/${mine.lease.id}/renew`, {}, alice.token);
    assert.equal(revokedGrant.status, 403);
    // She may still revoke her own lease; and the admin may revoke any.
    const other = await issue('main', 'app', {}, bob.token);
    assert.equal(
      (await ok('POST', `/v2/leases/${mine.lease.id}/revoke`, undefined, 200, alice.token)).state,
      'revoked',
    );
    assert.equal((await ok('POST', `/v2/leases/${other.lease.id}/revoke`)).state, 'revoked');
    assert.equal(await roleExists(other.username), false);
  });

  test('a revoke while another node holds the lease waits for that revocation and answers its outcome', async () => {
    const credential = await issue('main', 'app');
    const { storage } = node.app;
    const held = () =>
      storage.db
        .updateTable('db_leases')
        .set({ claim_owner: 'node-other', claim_until: clock.nowMs() + 60_000 })
        .where('id', '=', credential.lease.id);
    await storage.write([stmt(held())]);
    const answer = api('POST', `/v2/leases/${credential.lease.id}/revoke`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The other node finishes and records the lease revoked (its role is left to the cleanup).
    await storage.write([
      stmt(
        storage.db
          .updateTable('db_leases')
          .set({ state: 'revoked', revoke_time: clock.nowMs(), claim_owner: null, claim_until: null })
          .where('id', '=', credential.lease.id),
      ),
    ]);
    const res = await answer;
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.state, 'revoked');
  });

  test("revoke-prefix revokes every active lease of a role (and only that role's)", async () => {
    const leases = [await issue('main', 'app'), await issue('main', 'app'), await issue('main', 'app')];
    const kept = await issue('main', 'other');
    const res = await ok('POST', `${db('main')}/leases/revoke-prefix`, { role: 'app' });
    assert.equal(res.revoked, 3);
    await node.app.runBackgroundJobs();
    for (const credential of leases) {
      assert.equal(await roleExists(credential.username), false);
      assert.equal((await lease(credential.lease.id)).body.state, 'revoked');
    }
    assert.equal(await roleExists(kept.username), true);
    assert.equal((await lease(kept.lease.id)).body.state, 'active');
    const unknownRole = await api('POST', `${db('main')}/leases/revoke-prefix`, { role: 'nope' });
    assert.equal(unknownRole.status, 404);
    // The whole database: the rest.
    assert.ok((await ok('POST', `${db('main')}/leases/revoke-prefix`, {})).revoked >= 1);
    await node.app.runBackgroundJobs();
    assert.equal(await roleExists(kept.username), false);
  });
});
