import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const password = 'correct horse battery';

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `revocation (${engine})`,
    { skip: engine === 'postgres' ? (postgresSkip ?? false) : false },
    () => {
      let node: TestNode;
      let admin: string;
      let database: TestDatabase | undefined;
      let projectId: string;

      const as = (token: string | undefined) => ({
        get: (path: string) => call(node.url, 'GET', path, { token }),
        post: (path: string, body: unknown = {}) => call(node.url, 'POST', path, { token, body }),
        del: (path: string) => call(node.url, 'DELETE', path, { token }),
      });
      const login = async (email: string) => as(undefined).post('/v2/auth/login', { email, password });
      async function user(name: string, rootRole?: string): Promise<{ email: string; token: string }> {
        const email = `${name}-${engine}@example.com`;
        assert.equal((await as(admin).post('/v2/users', { email, password })).status, 201);
        await as(admin).post(`/v2/projects/${projectId}/iam-policy:add-binding`, {
          role: 'roles/secretsmanager.viewer',
          member: `user:${email}`,
        });
        if (rootRole)
          await as(admin).post('/v2/iam-policy:add-binding', { role: rootRole, member: `user:${email}` });
        const session = await login(email);
        assert.equal(session.status, 200);
        return { email, token: session.body.token };
      }
      const probe = (token: string) => as(token).get(`/v2/projects/${projectId}/regions/local/instances`);

      before(async () => {
        const env: Record<string, string> = {};
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        node = await startTestNode({ env });
        admin = node.adminToken!;
        projectId = (await as(admin).post('/v2/projects', { displayName: 'revocation' })).body.id;
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('a disabled user’s sessions stop at once and it cannot log in; enabling does not revive them', async () => {
        const alice = await user('alice');
        assert.equal((await probe(alice.token)).status, 200);
        const disabled = await as(admin).post(`/v2/users/${encodeURIComponent(alice.email)}:disable`);
        assert.deepEqual(disabled.body, { email: alice.email, disabled: true });
        assert.equal((await probe(alice.token)).status, 401);
        assert.equal((await login(alice.email)).status, 401);
        assert.equal((await as(admin).post(`/v2/users/${alice.email}:enable`)).body.disabled, false);
        assert.equal((await probe(alice.token)).status, 401, 'the old session stays ended');
        const again = await login(alice.email);
        assert.equal(again.status, 200);
        assert.equal((await probe(again.body.token)).status, 200);
        assert.equal((await as(admin).post('/v2/users/nobody@example.com:disable')).status, 404);
      });

      test('a user’s sessions are listed without their values and can be ended one by one', async () => {
        const bob = await user('bob');
        const second = (await login(bob.email)).body.token as string;
        const listed = await as(admin).get(`/v2/users/${bob.email}/tokens`);
        assert.equal(listed.status, 200);
        assert.equal(listed.body.items.length, 2);
        const text = JSON.stringify(listed.body);
        assert.ok(!text.includes(bob.token) && !text.includes(second) && !text.includes('cfr_'));
        const [first] = listed.body.items as Array<{ id: string }>;
        // Ending a session through another user's path does nothing (404), and ends nothing.
        const carol = await user('carol');
        assert.equal((await as(admin).del(`/v2/users/${carol.email}/tokens/${first!.id}`)).status, 404);
        assert.equal((await as(admin).del(`/v2/users/${bob.email}/tokens/${first!.id}`)).status, 204);
        const stillLive = [await probe(bob.token), await probe(second)].map((r) => r.status).sort();
        assert.deepEqual(stillLive, [200, 401]);
        assert.equal((await as(admin).get(`/v2/users/${bob.email}/tokens`)).body.items.length, 1);
        assert.equal((await as(admin).get('/v2/users/nobody@example.com/tokens')).status, 404);
      });

      test('nobody disables themself or the first admin; an IAM admin at the root cannot manage users at all', async () => {
        const owner = await user('second-owner', 'roles/owner');
        assert.equal((await as(owner.token).post(`/v2/users/${owner.email}:disable`)).status, 400);
        for (const action of ['disable', 'enable']) {
          const res = await as(owner.token).post(`/v2/users/admin@coffer.internal:${action}`);
          assert.equal(res.status, 400, action);
          assert.equal(res.body.error.code, 'failed_precondition');
        }
        const iamAdmin = await user('root-iam-admin', 'roles/iam.admin');
        const victim = await user('victim');
        const victimSessions = await as(admin).get(`/v2/users/${victim.email}/tokens`);
        const denied = [
          await as(iamAdmin.token).post(`/v2/users/${victim.email}:disable`),
          await as(iamAdmin.token).post(`/v2/users/${owner.email}:enable`),
          await as(iamAdmin.token).get(`/v2/users/${victim.email}/tokens`),
          await as(iamAdmin.token).del(`/v2/users/${victim.email}/tokens/${victimSessions.body.items[0].id}`),
          await as(iamAdmin.token).post('/v2/sys/root-token:rotate'),
        ];
        assert.deepEqual(
          denied.map((r) => r.status),
          [403, 403, 403, 403, 403],
        );
        assert.equal(denied[4]!.body.error.message, 'Permission sys.root_token.rotate denied on root.');
        // It cannot grant itself the permissions either: it does not hold them.
        const grab = await as(iamAdmin.token).post('/v2/iam-policy:add-binding', {
          role: 'roles/owner',
          member: `user:${iamAdmin.email}`,
        });
        assert.equal(grab.status, 403);
        assert.equal((await probe(victim.token)).status, 200);
      });

      test('logging out ends the caller’s own token only (a session or a service account token), audited', async () => {
        const carol = await user('leaver');
        const second = (await login(carol.email)).body.token as string;
        const out = await as(carol.token).post('/v2/auth/logout');
        assert.equal(out.status, 204, JSON.stringify(out.body));
        assert.equal((await probe(carol.token)).status, 401, 'the token used to log out is revoked');
        assert.equal((await as(carol.token).post('/v2/auth/logout')).status, 401);
        assert.equal((await probe(second)).status, 200, 'the user’s other session goes on');
        const sessions = await as(admin).get(`/v2/users/${carol.email}/tokens`);
        assert.equal(sessions.body.items.length, 1);

        const sa = (await as(admin).post(`/v2/projects/${projectId}/service-accounts`, { name: 'logout-sa' }))
          .body.email as string;
        const saToken = (
          await as(admin).post(`/v2/projects/${projectId}/service-accounts/${encodeURIComponent(sa)}/tokens`)
        ).body as { id: string; token: string };
        assert.equal((await as(saToken.token).post('/v2/auth/logout')).status, 204);
        assert.equal((await as(saToken.token).get('/v2/permissions')).status, 401);
        assert.equal((await as(undefined).post('/v2/auth/logout')).status, 401);

        const audit = await as(admin).get('/v2/sys/audit-events?action=auth.logout&pageSize=100');
        assert.equal(audit.status, 200, JSON.stringify(audit.body));
        const events = audit.body.items as Array<{
          principal: string;
          result: string;
          details?: { tokenId?: string };
        }>;
        const sessionEvent = events.find((e) => e.principal === `user:${carol.email}` && e.result === 'ok');
        assert.ok(sessionEvent, JSON.stringify(events));
        assert.ok(
          events.some((e) => e.principal === `serviceAccount:${sa}` && e.details?.tokenId === saToken.id),
        );
        const text = JSON.stringify(audit.body);
        assert.ok(!text.includes(carol.token) && !text.includes(saToken.token), 'no token is audited');
      });

      test('the first admin’s root token is not ended by logging out (it could not be replaced)', async () => {
        const refused = await as(admin).post('/v2/auth/logout');
        assert.equal(refused.status, 400);
        assert.equal(refused.body.error.code, 'failed_precondition');
        assert.equal((await as(admin).get('/v2/iam-policy')).status, 200);
      });

      test('rotating the root token: the new one is shown once (no-store), the old one stops working', async () => {
        const rotated = await as(admin).post('/v2/sys/root-token:rotate');
        assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
        assert.equal(rotated.headers.get('cache-control'), 'no-store');
        assert.match(rotated.body.token, /^cfr_/);
        assert.equal(rotated.body.expireTime, null);
        assert.equal((await as(admin).get('/v2/iam-policy')).status, 401, 'the old root token is revoked');
        admin = rotated.body.token;
        assert.equal((await as(admin).get('/v2/iam-policy')).status, 200);
        const audit = await as(admin).get('/v2/sys/audit-events?pageSize=100');
        assert.equal(audit.status, 200, JSON.stringify(audit.body));
        const text = JSON.stringify(audit.body);
        assert.ok(!text.includes(rotated.body.token), 'the token is never audited');
      });
    },
  );
}

describe('revocation across nodes (PostgreSQL)', { skip: postgresSkip ?? false }, () => {
  test('a disabled user, a logged-out session and a rotated root token stop working on a second node within one second', async () => {
    const database = await createTestDatabase();
    const env = { COFFER_DATABASE_URL: database.url, COFFER_CHANGE_POLL_MS: '100' };
    const seed = await startTestNode({ env });
    const otherDir = mkdtempSync(join(tmpdir(), 'coffer-node-b-'));
    copyFileSync(join(seed.dataDir, 'seal.key'), join(otherDir, 'seal.key'));
    const other = await startTestNode({ env, dataDir: otherDir }).catch(async (err) => {
      await seed.destroy();
      throw err;
    });
    try {
      const admin = seed.adminToken!;
      const email = 'roaming-user@example.com';
      await call(seed.url, 'POST', '/v2/users', { token: admin, body: { email, password } });
      await call(seed.url, 'POST', '/v2/iam-policy:add-binding', {
        token: admin,
        body: { role: 'roles/audit.viewer', member: `user:${email}` },
      });
      const session = (await call(seed.url, 'POST', '/v2/auth/login', { body: { email, password } })).body
        .token;
      const within = async (token: string, path: string, expected: number) => {
        const start = Date.now();
        let status = 0;
        while (status !== expected && Date.now() - start < 1000)
          status = (await call(other.url, 'GET', path, { token })).status;
        return status;
      };
      assert.equal(await within(session, '/v2/iam-policy', 403), 403, 'the second node knows the session');
      const leaving = (await call(seed.url, 'POST', '/v2/auth/login', { body: { email, password } })).body
        .token;
      assert.equal(await within(leaving, '/v2/iam-policy', 403), 403, 'and the second session');
      assert.equal(
        (await call(seed.url, 'POST', '/v2/auth/logout', { token: leaving, body: {} })).status,
        204,
      );
      assert.equal(await within(leaving, '/v2/iam-policy', 401), 401, 'logged out within one second');
      assert.equal(await within(session, '/v2/iam-policy', 403), 403, 'the other session goes on');
      await call(seed.url, 'POST', `/v2/users/${email}:disable`, { token: admin });
      assert.equal(await within(session, '/v2/iam-policy', 401), 401, 'disabled within one second');
      assert.equal(await within(admin, '/v2/iam-policy', 200), 200, 'the root token is cached there');
      const rotated = await call(seed.url, 'POST', '/v2/sys/root-token:rotate', { token: admin, body: {} });
      assert.equal(rotated.status, 200);
      assert.equal(
        await within(admin, '/v2/iam-policy', 401),
        401,
        'the old root token ends within one second',
      );
      assert.equal(await within(rotated.body.token, '/v2/iam-policy', 200), 200);
    } finally {
      await other.destroy();
      await seed.destroy();
      await database.drop();
    }
  });
});
