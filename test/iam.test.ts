import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const b64 = (text: string) => Buffer.from(text).toString('base64');

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`IAM (${engine})`, { skip: engine === 'postgres' ? (postgresSkip ?? false) : false }, () => {
    let node: TestNode;
    let admin: string;
    let database: TestDatabase | undefined;
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    let projectId: string;
    let ringPath: string;
    let keyA: string;
    let keyB: string;

    const as = (token: string | undefined) => ({
      get: (path: string) => call(node.url, 'GET', path, { token }),
      post: (path: string, body: unknown = {}) => call(node.url, 'POST', path, { token, body }),
      put: (path: string, body: unknown, headers: Record<string, string> = {}) =>
        call(node.url, 'PUT', path, { token, body, headers }),
      del: (path: string) => call(node.url, 'DELETE', path, { token }),
    });

    async function serviceAccount(name: string): Promise<{ email: string; token: string; member: string }> {
      const created = await as(admin).post(`/v2/projects/${projectId}/service-accounts`, { name });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const email = created.body.email as string;
      const issued = await as(admin).post(
        `/v2/projects/${projectId}/service-accounts/${encodeURIComponent(email)}/tokens`,
        {},
      );
      assert.equal(issued.status, 201);
      return { email, token: issued.body.token, member: `serviceAccount:${email}` };
    }

    before(async () => {
      const env: Record<string, string> = {};
      if (engine === 'postgres') {
        database = await createTestDatabase();
        env.COFFER_DATABASE_URL = database.url;
      }
      node = await startTestNode({ env, clock });
      admin = node.adminToken!;
      projectId = (await as(admin).post('/v2/projects', { displayName: 'iam' })).body.id;
      const ring = (
        await as(admin).post(`/v2/projects/${projectId}/regions/local/keyrings`, { displayName: 'r' })
      ).body.id;
      ringPath = `/v2/projects/${projectId}/regions/local/keyrings/${ring}`;
      keyA = (await as(admin).post(`${ringPath}/keys`, { algorithm: 'aes256-gcm96' })).body.id;
      keyB = (await as(admin).post(`${ringPath}/keys`, { algorithm: 'aes256-gcm96' })).body.id;
    });
    after(async () => {
      await node?.destroy();
      await database?.drop();
    });

    test('service accounts: default email, get, list, duplicate 409, bad name 400, another project 404', async () => {
      const sa = await serviceAccount('reader-one');
      assert.equal(sa.email, `reader-one@${projectId}.iam.coffer.internal`);
      const got = await as(admin).get(
        `/v2/projects/${projectId}/service-accounts/${encodeURIComponent(sa.email)}`,
      );
      assert.equal(got.body.disabled, false);
      const listed = await as(admin).get(`/v2/projects/${projectId}/service-accounts`);
      assert.ok(listed.body.items.some((a: { email: string }) => a.email === sa.email));
      assert.equal(
        (await as(admin).post(`/v2/projects/${projectId}/service-accounts`, { name: 'reader-one' })).status,
        409,
      );
      assert.equal(
        (await as(admin).post(`/v2/projects/${projectId}/service-accounts`, { name: 'Bad Name' })).status,
        400,
      );
      const other = (await as(admin).post('/v2/projects', {})).body.id;
      assert.equal(
        (await as(admin).get(`/v2/projects/${other}/service-accounts/${encodeURIComponent(sa.email)}`))
          .status,
        404,
      );
    });

    test('a valid principal without a grant gets 403, the same whether or not the resource exists', async () => {
      const sa = await serviceAccount('nobody-here');
      const existing = await as(sa.token).get(`${ringPath}/keys/${keyA}`);
      const absentKey = '99999999-9999-9999-9999-999999999999';
      const missing = await as(sa.token).get(`${ringPath}/keys/${absentKey}`);
      assert.equal(existing.status, 403);
      assert.equal(missing.status, 403);
      // The message names the permission and the resource as sent: only the id the caller wrote differs.
      assert.match(
        existing.body.error.message,
        new RegExp(`^Permission kms\\.keys\\.get denied on .*/keys/${keyA}\\.$`),
      );
      const sameShape = (error: { message: string }, id: string) => ({
        ...error,
        message: error.message.replace(id, '{key}'),
        requestId: '',
      });
      assert.deepEqual(sameShape(existing.body.error, keyA), sameShape(missing.body.error, absentKey));
    });

    test('bindings inherit down the real parent chain: project → key ring → key, not sideways', async () => {
      const sa = await serviceAccount('crypto-user');
      const onKeyA = `${ringPath}/keys/${keyA}`;
      assert.equal(
        (
          await as(admin).post(`${onKeyA}/iam-policy:add-binding`, {
            role: 'roles/kms.cryptoKeyEncrypterDecrypter',
            member: sa.member,
          })
        ).status,
        200,
      );
      assert.equal((await as(sa.token).post(`${onKeyA}/encrypt`, { plaintext: b64('x') })).status, 200);
      assert.equal(
        (await as(sa.token).post(`${ringPath}/keys/${keyB}/encrypt`, { plaintext: b64('x') })).status,
        403,
      );
      assert.equal((await as(sa.token).get(onKeyA)).status, 403, 'encrypter role does not read metadata');
      await as(admin).post(`/v2/projects/${projectId}/iam-policy:add-binding`, {
        role: 'roles/kms.viewer',
        member: sa.member,
      });
      assert.equal(
        (await as(sa.token).get(`${ringPath}/keys/${keyB}`)).status,
        200,
        'project grant reaches every key',
      );
      await as(admin).post(`/v2/projects/${projectId}/iam-policy:remove-binding`, {
        role: 'roles/kms.viewer',
        member: sa.member,
      });
      assert.equal(
        (await as(sa.token).get(`${ringPath}/keys/${keyB}`)).status,
        403,
        'removal takes effect at once',
      );
    });

    test('policies: empty etag, stale etag 409, unknown role or member 400, duplicate bindings 400', async () => {
      const sa = await serviceAccount('policy-target');
      const path = `${ringPath}/iam-policy`;
      const empty = await as(admin).get(path);
      assert.deepEqual(empty.body.bindings, []);
      const set = await as(admin).put(path, {
        bindings: [{ role: 'roles/kms.viewer', members: [sa.member] }],
        etag: empty.body.etag,
      });
      assert.equal(set.status, 200);
      const stale = await as(admin).put(path, { bindings: [] }, { 'if-match': `"${empty.body.etag}"` });
      assert.equal(stale.status, 409);
      assert.equal((await as(admin).get(path)).body.bindings.length, 1, 'nothing was written');
      assert.equal(
        (await as(admin).put(path, { bindings: [{ role: 'roles/nope', members: [sa.member] }] })).status,
        400,
      );
      assert.equal(
        (
          await as(admin).put(path, {
            bindings: [{ role: 'roles/kms.viewer', members: ['serviceAccount:ghost@x.iam.coffer.internal'] }],
          })
        ).status,
        400,
      );
      assert.equal(
        (
          await as(admin).put(path, {
            bindings: [{ role: 'roles/kms.viewer', members: ['group:ops@x.com'] }],
          })
        ).status,
        400,
      );
      const duplicate = await as(admin).put(path, {
        bindings: [
          { role: 'roles/kms.viewer', members: [sa.member] },
          { role: 'roles/kms.viewer', members: [sa.member] },
        ],
      });
      assert.equal(duplicate.status, 400);
    });

    test('a time-bound binding ends at expiresAt without anyone acting (controllable clock)', async () => {
      const sa = await serviceAccount('temporary');
      const expiresAt = new Date(clock.nowMs() + 3_600_000).toISOString();
      await as(admin).post(`${ringPath}/keys/${keyA}/iam-policy:add-binding`, {
        role: 'roles/kms.viewer',
        member: sa.member,
        condition: { title: 'one hour', expiresAt },
      });
      assert.equal((await as(sa.token).get(`${ringPath}/keys/${keyA}`)).status, 200);
      clock.advance(3_600_000);
      assert.equal((await as(sa.token).get(`${ringPath}/keys/${keyA}`)).status, 403);
    });

    test('test-permissions answers which of the permissions the caller holds there', async () => {
      const sa = await serviceAccount('tester-acct');
      await as(admin).post(`${ringPath}/iam-policy:add-binding`, {
        role: 'roles/kms.signerVerifier',
        member: sa.member,
      });
      const res = await as(sa.token).post(`${ringPath}/keys/${keyA}/iam:test-permissions`, {
        permissions: ['kms.sign', 'kms.encrypt', 'kms.verify'],
      });
      assert.deepEqual(res.body.permissions, ['kms.sign', 'kms.verify']);
      assert.equal(
        (await as(sa.token).post(`${ringPath}/iam:test-permissions`, { permissions: ['kms.fly'] })).status,
        400,
      );
    });

    test('no escalation: iam.policies.set on a key ring does not reach the project or the root', async () => {
      const sa = await serviceAccount('ring-admin');
      await as(admin).post(`${ringPath}/iam-policy:add-binding`, {
        role: 'roles/kms.admin',
        member: sa.member,
      });
      assert.equal(
        (
          await as(sa.token).post(`${ringPath}/iam-policy:add-binding`, {
            role: 'roles/kms.viewer',
            member: sa.member,
          })
        ).status,
        200,
      );
      assert.equal(
        (
          await as(sa.token).post(`/v2/projects/${projectId}/iam-policy:add-binding`, {
            role: 'roles/owner',
            member: sa.member,
          })
        ).status,
        403,
      );
      assert.equal(
        (await as(sa.token).post('/v2/iam-policy:add-binding', { role: 'roles/owner', member: sa.member }))
          .status,
        403,
      );
      assert.equal(
        (await as(sa.token).post('/v2/projects', {})).status,
        403,
        'only projects.create at the root creates projects',
      );
    });

    test('the root policy: the first admin is owner; the last unconditional owner cannot be removed', async () => {
      const root = await as(admin).get('/v2/iam-policy');
      assert.deepEqual(root.body.bindings, [
        { role: 'roles/owner', members: ['user:admin@coffer.internal'] },
      ]);
      const orphan = await as(admin).put('/v2/iam-policy', { bindings: [], etag: root.body.etag });
      assert.equal(orphan.status, 400);
    });

    test('tokens: listed without their value, revoked at once, expire by ttl; a disabled account is refused', async () => {
      const sa = await serviceAccount('token-owner');
      await as(admin).post(`/v2/projects/${projectId}/iam-policy:add-binding`, {
        role: 'roles/kms.viewer',
        member: sa.member,
      });
      const base = `/v2/projects/${projectId}/service-accounts/${encodeURIComponent(sa.email)}`;
      const short = await as(admin).post(`${base}/tokens`, { ttl: '60s' });
      assert.equal(short.headers.get('cache-control'), 'no-store');
      const listed = await as(admin).get(`${base}/tokens`);
      assert.equal(listed.body.items.length, 2);
      assert.ok(!JSON.stringify(listed.body).includes(sa.token));
      assert.equal((await as(short.body.token).get(`${ringPath}/keys/${keyA}`)).status, 200);
      clock.advance(61_000);
      assert.equal((await as(short.body.token).get(`${ringPath}/keys/${keyA}`)).status, 401, 'expired');
      const firstId = listed.body.items.find((t: { expireTime: string | null }) => t.expireTime === null).id;
      assert.equal((await as(admin).del(`${base}/tokens/${firstId}`)).status, 204);
      assert.equal((await as(sa.token).get(`${ringPath}/keys/${keyA}`)).status, 401, 'revoked');
      assert.equal((await as(admin).del(`${base}/tokens/${firstId}`)).status, 404);
      const fresh = await as(admin).post(`${base}/tokens`, {});
      assert.equal((await as(fresh.body.token).get(`${ringPath}/keys/${keyA}`)).status, 200);
      assert.equal((await as(admin).post(`${base}/disable`)).body.disabled, true);
      assert.equal((await as(fresh.body.token).get(`${ringPath}/keys/${keyA}`)).status, 401, 'disabled');
      await as(admin).post(`${base}/enable`);
      assert.equal((await as(fresh.body.token).get(`${ringPath}/keys/${keyA}`)).status, 200, 'enabled again');
    });

    test('users log in with a password; failures are refused alike, audited, and rate-limited with Retry-After', async () => {
      const email = `alice-${engine}@example.com`;
      assert.equal(
        (await as(admin).post('/v2/users', { email, password: 'correct horse battery' })).status,
        201,
      );
      assert.equal((await as(admin).post('/v2/users', { email, password: 'short' })).status, 400);
      const login = await as(undefined).post('/v2/auth/login', { email, password: 'correct horse battery' });
      assert.equal(login.status, 200);
      assert.match(login.body.token, /^cfr_/);
      assert.equal(login.headers.get('cache-control'), 'no-store');
      assert.equal((await as(login.body.token).get('/v2/projects')).status, 200);
      const wrong = await as(undefined).post('/v2/auth/login', { email, password: 'wrong password!!' });
      const unknown = await as(undefined).post('/v2/auth/login', {
        email: 'ghost@example.com',
        password: 'whatever123456',
      });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.error.message, unknown.body.error.message);
      // Refused logins are counted per address and minute, not written one by one (issue 12).
      await node.app.unauthenticatedAudit.flush();
      const events = await node.app.storage.db
        .selectFrom('audit_events')
        .selectAll()
        .where('action', 'in', ['auth.login', 'auth.unauthenticated'])
        .execute();
      assert.ok(events.some((e) => e.action === 'auth.login' && e.result === 'ok'));
      assert.ok(
        events.some(
          (e) =>
            e.action === 'auth.unauthenticated' &&
            e.result === 'denied' &&
            JSON.parse(e.details!).action === 'auth.login' &&
            JSON.parse(e.details!).count >= 2,
        ),
      );
      assert.ok(!JSON.stringify(events).includes('wrong password'));
      let limited = wrong;
      for (let i = 0; i < 15 && limited.status !== 429; i++) {
        limited = await as(undefined).post('/v2/auth/login', { email, password: 'wrong password!!' });
      }
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      clock.advance(10 * 60_000);
    });

    test('roles and permissions catalogues; custom roles grant exactly their permissions', async () => {
      const roles = await as(admin).get('/v2/roles');
      const accessor = roles.body.items.find(
        (r: { name: string }) => r.name === 'roles/secretsmanager.secretAccessor',
      );
      assert.deepEqual(
        accessor.permissions.filter((p: string) => p !== 'sys.openapi.get'),
        ['secrets.get_value'],
      );
      const permissions = await as(admin).get('/v2/permissions');
      assert.ok(
        permissions.body.items.some((p: { name: string }) => p.name === 'iam.service_accounts.act_as'),
      );
      const created = await as(admin).post(`/v2/projects/${projectId}/roles`, {
        roleId: 'macOnly',
        title: 'MAC only',
        permissions: ['kms.mac'],
      });
      assert.equal(created.status, 201);
      assert.equal(
        (
          await as(admin).post(`/v2/projects/${projectId}/roles`, {
            roleId: 'bad',
            title: 'x',
            permissions: ['kms.fly'],
          })
        ).status,
        400,
      );
      const sa = await serviceAccount('custom-role');
      await as(admin).post(`${ringPath}/iam-policy:add-binding`, {
        role: created.body.name,
        member: sa.member,
      });
      const held = await as(sa.token).post(`${ringPath}/keys/${keyA}/iam:test-permissions`, {
        permissions: ['kms.mac', 'kms.sign'],
      });
      assert.deepEqual(held.body.permissions, ['kms.mac']);
      const other = (await as(admin).post('/v2/projects', {})).body.id;
      const foreign = await as(admin).post(`/v2/projects/${other}/iam-policy:add-binding`, {
        role: created.body.name,
        member: sa.member,
      });
      assert.equal(foreign.status, 400, 'a custom role only binds in its own project');
    });
  });
}

describe('IAM across nodes (PostgreSQL)', { skip: postgresSkip ?? false }, () => {
  test('a revoked grant and a disabled account stop working on a second node within one second', async () => {
    const database = await createTestDatabase();
    const env = { COFFER_DATABASE_URL: database.url, COFFER_CHANGE_POLL_MS: '100' };
    const seed = await startTestNode({ env });
    const admin = seed.adminToken!;
    // A second node of the cluster: same database, same seal key file.
    const otherDir = mkdtempSync(join(tmpdir(), 'coffer-node-b-'));
    copyFileSync(join(seed.dataDir, 'seal.key'), join(otherDir, 'seal.key'));
    const other = await startTestNode({ env, dataDir: otherDir }).catch(async (err) => {
      await seed.destroy();
      throw err;
    });
    try {
      const project = (await call(seed.url, 'POST', '/v2/projects', { token: admin, body: {} })).body.id;
      const sa = (
        await call(seed.url, 'POST', `/v2/projects/${project}/service-accounts`, {
          token: admin,
          body: { name: 'roaming-sa' },
        })
      ).body;
      const base = `/v2/projects/${project}/service-accounts/${encodeURIComponent(sa.email)}`;
      const token = (await call(seed.url, 'POST', `${base}/tokens`, { token: admin, body: {} })).body.token;
      await call(seed.url, 'POST', `/v2/projects/${project}/iam-policy:add-binding`, {
        token: admin,
        body: { role: 'roles/iam.admin', member: `serviceAccount:${sa.email}` },
      });
      const probe = () => call(other.url, 'GET', `/v2/projects/${project}/service-accounts`, { token });
      assert.equal((await probe()).status, 200, 'the second node sees the grant');
      await call(seed.url, 'POST', `/v2/projects/${project}/iam-policy:remove-binding`, {
        token: admin,
        body: { role: 'roles/iam.admin', member: `serviceAccount:${sa.email}` },
      });
      const revokedAt = Date.now();
      let status = 200;
      while (status === 200 && Date.now() - revokedAt < 1000) status = (await probe()).status;
      assert.equal(status, 403, 'revoked within one second on the other node');
      await call(seed.url, 'POST', `${base}/disable`, { token: admin });
      const disabledAt = Date.now();
      status = 403;
      while (status === 403 && Date.now() - disabledAt < 1000) status = (await probe()).status;
      assert.equal(status, 401, 'disabled within one second on the other node');
    } finally {
      await other.destroy();
      await seed.destroy();
      await database.drop();
    }
  });
});
