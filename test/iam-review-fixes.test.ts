import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { hashPassword } from '../src/iam/password.ts';
import { initialAdminPrincipal } from '../src/iam/principal.ts';
import { stmt } from '../src/storage/storage-types.ts';
import { createTestDatabase, postgresSkipReason } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const password = 'correct horse battery';
const hour = 3_600_000;
const firstAdmin = 'admin@coffer.internal';

describe('IAM review fixes: the first admin and time-bound grants', () => {
  let node: TestNode;
  let admin: string;
  let project: string;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));

  const as = (token: string | undefined) => ({
    get: (path: string) => call(node.url, 'GET', path, { token }),
    post: (path: string, body: unknown = {}) => call(node.url, 'POST', path, { token, body }),
    put: (path: string, body: unknown) => call(node.url, 'PUT', path, { token, body }),
    del: (path: string) => call(node.url, 'DELETE', path, { token }),
  });
  const inOneHour = () => ({ title: 'break-glass', expiresAt: new Date(clock.nowMs() + hour).toISOString() });
  async function user(name: string, rootOwner?: 'time-bound' | 'permanent') {
    const email = `${name}@example.com`;
    assert.equal((await as(admin).post('/v2/users', { email, password })).status, 201);
    if (rootOwner) {
      const condition = rootOwner === 'time-bound' ? { condition: inOneHour() } : {};
      const granted = await as(admin).post('/v2/iam-policy:add-binding', {
        role: 'roles/owner',
        member: `user:${email}`,
        ...condition,
      });
      assert.equal(granted.status, 200, JSON.stringify(granted.body));
    }
    const session = await as(undefined).post('/v2/auth/login', { email, password });
    assert.equal(session.status, 200);
    return { email, token: session.body.token as string, member: `user:${email}` };
  }

  before(async () => {
    node = await startTestNode({ clock });
    admin = node.adminToken!;
    project = `/v2/projects/${(await as(admin).post('/v2/projects', { displayName: 'review' })).body.id}`;
  });
  after(async () => node?.destroy());

  test('only the first admin rotates its root token: another owner, time-bound or not, gets 403', async () => {
    for (const kind of ['time-bound', 'permanent'] as const) {
      const owner = await user(`rotating-${kind}-owner`, kind);
      const rotated = await as(owner.token).post('/v2/sys/root-token:rotate');
      assert.equal(rotated.status, 403, JSON.stringify(rotated.body));
      assert.equal(rotated.body.token, undefined);
      assert.match(rotated.body.error.message, /Only the first admin/);
    }
    assert.equal((await as(admin).get('/v2/iam-policy')).status, 200, 'the root token still works');
  });

  test('no password user may take the first admin’s address or any other under coffer.internal', async () => {
    const owner = await user('creating-owner', 'permanent');
    for (const email of [
      firstAdmin,
      'Admin@Coffer.Internal',
      'ci@p.iam.coffer.internal',
      'x@coffer.internal',
    ]) {
      const created = await as(owner.token).post('/v2/users', { email, password });
      assert.equal(created.status, 400, email);
      assert.equal(created.body.error.code, 'invalid_argument');
    }
  });

  test('a user row with the first admin’s address (made before it was reserved) neither logs in nor affects the root token', async () => {
    const { storage } = node.app;
    const row = {
      email: firstAdmin,
      password_hash: await hashPassword(password),
      disabled: 0,
      create_time: 0,
    };
    await storage.write([stmt(storage.db.insertInto('iam_users').values(row))]);
    assert.equal((await as(undefined).post('/v2/auth/login', { email: firstAdmin, password })).status, 401);
    await storage.write([
      stmt(storage.db.updateTable('iam_users').set({ disabled: 1 }).where('email', '=', firstAdmin)),
    ]);
    node.app.tokens.invalidate();
    assert.equal((await as(admin).get('/v2/iam-policy')).status, 200, 'the root token does not read the row');
  });

  test('another owner can neither list nor end the first admin’s tokens (400, pointing to the rotation)', async () => {
    const owner = await user('other-owner', 'permanent');
    const listed = await as(owner.token).get(`/v2/users/${firstAdmin}/tokens`);
    assert.equal(listed.status, 400);
    assert.equal(listed.body.error.code, 'failed_precondition');
    assert.match(listed.body.error.message, /root-token:rotate/);
    const ended = await as(owner.token).del(
      `/v2/users/${firstAdmin}/tokens/00000000-0000-4000-8000-000000000000`,
    );
    assert.equal(ended.status, 400);
    assert.equal((await as(admin).get('/v2/iam-policy')).status, 200);
  });

  test('a time-bound holder of tokens.create + act_as mints a token that expires with its grant', async () => {
    const sa = (await as(admin).post(`${project}/service-accounts`, { name: 'ci-deployer' })).body.email;
    await as(admin).post(`${project}/iam-policy:add-binding`, {
      role: 'roles/owner',
      member: `serviceAccount:${sa}`,
    });
    const temp = await user('temp-project-owner');
    const grant = inOneHour();
    await as(admin).post(`${project}/iam-policy:add-binding`, {
      role: 'roles/owner',
      member: temp.member,
      condition: grant,
    });
    const mint = async (ttl?: string) => {
      const res = await as(temp.token).post(
        `${project}/service-accounts/${encodeURIComponent(sa)}/tokens`,
        ttl ? { ttl } : {},
      );
      assert.equal(res.status, 201);
      return { token: res.body.token as string, expireMs: Date.parse(res.body.expireTime) };
    };
    const capped = await mint();
    assert.equal(capped.expireMs, Date.parse(grant.expiresAt));
    assert.equal((await mint('600s')).expireMs, clock.nowMs() + 600_000, 'a shorter ttl stays');
    assert.equal((await mint('18000s')).expireMs, capped.expireMs, 'a longer ttl is capped');
    assert.equal((await as(capped.token).get(`${project}/iam-policy`)).status, 200);
    clock.advance(2 * hour);
    assert.equal((await as(capped.token).get(`${project}/iam-policy`)).status, 401);
  });

  test('an instance’s kmsKey is set only with act_as held unconditionally; a rename keeps it with any act_as', async () => {
    const region = `${project}/regions/local`;
    const ring = (await as(admin).post(`${region}/keyrings`, { displayName: 'r' })).body.id;
    const key = (await as(admin).post(`${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96' })).body
      .id;
    const sa = (await as(admin).post(`${project}/service-accounts`, { name: 'instance-acct' })).body.email;
    const member = `serviceAccount:${sa}`;
    await as(admin).post(`${project}/iam-policy:add-binding`, {
      role: 'roles/secretsmanager.reader',
      member,
    });
    await as(admin).post(`${region}/keyrings/${ring}/iam-policy:add-binding`, {
      role: 'roles/kms.cryptoKeyEncrypterDecrypter',
      member,
    });
    const kmsKey = {
      regionId: 'local',
      projectId: project.split('/')[3],
      serviceAccountEmail: sa,
      keyRingId: ring,
      keyId: key,
      keyVersion: 1,
    };
    const temp = await user('temp-instance-owner');
    await as(admin).post(`${project}/iam-policy:add-binding`, {
      role: 'roles/owner',
      member: temp.member,
      condition: inOneHour(),
    });
    const refused = await as(temp.token).post(`${region}/instances`, { name: 'bound', kmsKey });
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.match(refused.body.error.message, /act_as held unconditionally/);
    const bare = (await as(temp.token).post(`${region}/instances`, { name: 'bare' })).body.id;
    assert.equal(
      (await as(temp.token).put(`${region}/instances/${bare}`, { name: 'bare', kmsKey })).status,
      403,
    );
    const bound = (await as(admin).post(`${region}/instances`, { name: 'bound', kmsKey })).body.id;
    const renamed = await as(temp.token).put(`${region}/instances/${bound}`, { name: 'bound-2', kmsKey });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
  });

  test('a role held only with a condition is granted by no route, condition or expiry (regression guard)', async () => {
    const holder = await user('conditional-granter');
    const other = await user('grant-target');
    const grant = async (role: string, condition?: object) =>
      assert.equal(
        (
          await as(admin).post(`${project}/iam-policy:add-binding`, {
            role,
            member: holder.member,
            condition,
          })
        ).status,
        200,
      );
    await grant('roles/kms.admin'); // iam.policies.set, unconditionally
    await grant('roles/secretsmanager.admin', inOneHour());
    await grant('roles/iam.serviceAccountUser', inOneHour());
    const instance = `${project}/regions/local/instances/${(await as(admin).post(`${project}/regions/local/instances`, { name: 'grants' })).body.id}`;
    const account = (await as(admin).post(`${project}/service-accounts`, { name: 'grants-acct' })).body.email;
    const role = (
      await as(admin).post(`${project}/roles`, {
        roleId: 'getter',
        title: 't',
        permissions: ['secrets.get_value'],
      })
    ).body.name;
    const policy = (await as(holder.token).get(`${instance}/iam-policy`)).body;
    const add = (resource: string, role: string, condition?: object) =>
      as(holder.token).post(`${resource}/iam-policy:add-binding`, { role, member: other.member, condition });
    const attempts = {
      put: await as(holder.token).put(`${instance}/iam-policy`, {
        bindings: [...policy.bindings, { role: 'roles/secretsmanager.admin', members: [holder.member] }],
        etag: policy.etag,
      }),
      add: await add(instance, 'roles/secretsmanager.secretAccessor'),
      custom: await add(instance, role),
      actAs: await add(
        `${project}/service-accounts/${encodeURIComponent(account)}`,
        'roles/iam.serviceAccountUser',
      ),
      titleOnly: await add(instance, 'roles/secretsmanager.admin', { title: 'forever' }),
      farFuture: await add(instance, 'roles/secretsmanager.admin', {
        title: 'x',
        expiresAt: '9999-12-31T00:00:00Z',
      }),
      sameExpiry: await add(instance, 'roles/secretsmanager.admin', inOneHour()),
    };
    const statuses = Object.fromEntries(Object.entries(attempts).map(([k, r]) => [k, r.status]));
    assert.deepEqual(statuses, Object.fromEntries(Object.keys(attempts).map((k) => [k, 403])));
  });
});

const postgresSkip = await postgresSkipReason();
for (const engine of ['sqlite', 'postgres'] as const) {
  test(
    `a login racing a disable yields no session that a later enable revives (${engine})`,
    {
      skip: engine === 'postgres' ? (postgresSkip ?? false) : false,
    },
    async () => {
      const database = engine === 'postgres' ? await createTestDatabase() : undefined;
      const node = await startTestNode({ env: database ? { COFFER_DATABASE_URL: database.url } : {} });
      try {
        const email = `racer-${engine}@example.com`;
        await node.app.users.createUser(email, password);
        // The login reads the user, then hashes the password (slow): the disable commits in between.
        const [login, disable] = await Promise.allSettled([
          node.app.users.login(email, password, '127.0.0.9'),
          node.app.users.setUserDisabled(email, true, initialAdminPrincipal),
        ]);
        assert.equal(disable.status, 'fulfilled');
        await node.app.users.setUserDisabled(email, false, initialAdminPrincipal);
        if (login.status === 'rejected') assert.equal(login.reason.code, 'unauthenticated');
        else {
          const probe = await call(node.url, 'GET', '/v2/permissions', { token: login.value.token });
          assert.equal(probe.status, 401, 'the session made during the disable came back');
        }
      } finally {
        await node.destroy();
        await database?.drop();
      }
    },
  );
}
