import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

describe('IAM escalation', () => {
  let node: TestNode;
  let admin: string;
  let projectId: string;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const hour = 3_600_000;

  const as = (token: string | undefined) => ({
    get: (path: string) => call(node.url, 'GET', path, { token }),
    post: (path: string, body: unknown = {}) => call(node.url, 'POST', path, { token, body }),
    put: (path: string, body: unknown) => call(node.url, 'PUT', path, { token, body }),
  });
  const project = () => `/v2/projects/${projectId}`;
  const accountPath = (email: string) => `${project()}/service-accounts/${encodeURIComponent(email)}`;

  async function serviceAccount(name: string): Promise<{ email: string; token: string; member: string }> {
    const created = await as(admin).post(`${project()}/service-accounts`, { name });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const email = created.body.email as string;
    const issued = await as(admin).post(`${accountPath(email)}/tokens`);
    assert.equal(issued.status, 201);
    return { email, token: issued.body.token, member: `serviceAccount:${email}` };
  }

  async function grant(resourcePath: string, role: string, member: string, expiresAtMs?: number) {
    const res = await as(admin).post(`${resourcePath}/iam-policy:add-binding`, {
      role,
      member,
      ...(expiresAtMs ? { condition: { title: 't', expiresAt: new Date(expiresAtMs).toISOString() } } : {}),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }

  before(async () => {
    node = await startTestNode({ clock });
    admin = node.adminToken!;
    projectId = (await as(admin).post('/v2/projects', { displayName: 'escalation' })).body.id;
  });
  after(async () => node?.destroy());

  test('an iam.admin cannot mint a token for a service account that reads secrets (act_as is needed)', async () => {
    const reader = await serviceAccount('secret-reader');
    await grant(project(), 'roles/secretsmanager.reader', reader.member);
    const iamAdmin = await serviceAccount('iam-only-admin');
    await grant(project(), 'roles/iam.admin', iamAdmin.member);
    const minted = await as(iamAdmin.token).post(`${accountPath(reader.email)}/tokens`);
    assert.equal(minted.status, 403, JSON.stringify(minted.body));
    assert.equal(minted.body.error.code, 'permission_denied');
    assert.equal(minted.body.token, undefined);
    // It can still list and revoke the account's tokens.
    assert.equal((await as(iamAdmin.token).get(`${accountPath(reader.email)}/tokens`)).status, 200);
    // Nor can it grant itself act_as, which it does not hold.
    const selfGrant = await as(iamAdmin.token).post(`${accountPath(reader.email)}/iam-policy:add-binding`, {
      role: 'roles/iam.serviceAccountUser',
      member: iamAdmin.member,
    });
    assert.equal(selfGrant.status, 403);
  });

  test('whoever an owner lets act as the account (and mint) gets its token', async () => {
    const worker = await serviceAccount('worker-account');
    const deployer = await serviceAccount('deployer-acct');
    await grant(project(), 'roles/owner', deployer.member);
    assert.equal((await as(deployer.token).post(`${accountPath(worker.email)}/tokens`)).status, 201);
  });

  test('a 403 names the permission and the resource as sent, the same whether or not it exists', async () => {
    const stranger = await serviceAccount('stranger-acct');
    const instances = `${project()}/regions/local/instances`;
    const missing = await as(stranger.token).get(
      `${instances}/inst-none/secrets/${encodeURIComponent('prod/db')}`,
    );
    assert.equal(missing.status, 403);
    assert.equal(
      missing.body.error.message,
      `Permission secrets.secrets.get denied on projects/${projectId}/regions/local/instances/inst-none/secrets/prod%2Fdb.`,
    );
    const real = await as(stranger.token).get(accountPath(stranger.email));
    const fake = await as(stranger.token).get(accountPath(`nobody@${projectId}.iam.coffer.internal`));
    assert.equal(
      real.body.error.message.replace(stranger.email, 'X'),
      fake.body.error.message.replace(/nobody@[^ ]+(?=\.$)/, 'X'),
    );
    assert.match(
      real.body.error.message,
      /^Permission iam\.service_accounts\.get denied on projects\/.+\/service-accounts\//,
    );
  });

  test('an expired time-bound grant does not count as held: its holder cannot grant the role again', async () => {
    const temp = await serviceAccount('temp-admin-one');
    const target = await serviceAccount('temp-target-one');
    await grant(project(), 'roles/iam.admin', temp.member, clock.nowMs() + hour);
    clock.advance(2 * hour);
    for (const member of [temp.member, target.member]) {
      // The grant expired, so the call itself is refused; and an owner-held grant of the same role
      // that only lets it set policies does not make it able to re-add iam.admin either (below).
      const res = await as(temp.token).post(`${project()}/iam-policy:add-binding`, {
        role: 'roles/iam.admin',
        member,
      });
      assert.equal(res.status, 403);
    }
    // Still holding iam.policies.set unconditionally (via kms.admin), the expired iam.admin grant
    // does not let it renew iam.admin for itself without a condition.
    await grant(project(), 'roles/kms.admin', temp.member);
    const renewed = await as(temp.token).post(`${project()}/iam-policy:add-binding`, {
      role: 'roles/iam.admin',
      member: temp.member,
    });
    assert.equal(renewed.status, 403, JSON.stringify(renewed.body));
    const policy = await as(admin).get(`${project()}/iam-policy`);
    const iamAdmins = policy.body.bindings.filter(
      (b: { role: string; members: string[]; condition?: unknown }) =>
        b.role === 'roles/iam.admin' && b.members.includes(temp.member) && !b.condition,
    );
    assert.deepEqual(iamAdmins, []);
  });

  test('a role held only with a condition cannot be granted unconditionally, nor anyone’s expiry extended', async () => {
    const holder = await serviceAccount('conditional-one');
    const other = await serviceAccount('conditional-two');
    // holder may set policies unconditionally (kms.admin) and holds kms.viewer only until tomorrow.
    await grant(project(), 'roles/kms.admin', holder.member);
    await grant(project(), 'roles/secretsmanager.viewer', holder.member, clock.nowMs() + 24 * hour);
    await grant(project(), 'roles/secretsmanager.viewer', other.member, clock.nowMs() + hour);
    const add = (body: unknown) => as(holder.token).post(`${project()}/iam-policy:add-binding`, body);
    assert.equal((await add({ role: 'roles/secretsmanager.viewer', member: other.member })).status, 403);
    const later = new Date(clock.nowMs() + 12 * hour).toISOString();
    const extended = await add({
      role: 'roles/secretsmanager.viewer',
      member: other.member,
      condition: { title: 'later', expiresAt: later },
    });
    assert.equal(extended.status, 403, 'extending another member’s expiry is a new grant');
    // Replacing the policy with the other member's condition removed is refused the same way.
    const policy = (await as(holder.token).get(`${project()}/iam-policy`)).body;
    const unconditioned = policy.bindings.map(
      (b: { role: string; members: string[]; condition?: unknown }) =>
        b.role === 'roles/secretsmanager.viewer' && b.members.includes(other.member)
          ? { role: b.role, members: b.members }
          : b,
    );
    const put = await as(holder.token).put(`${project()}/iam-policy`, {
      bindings: unconditioned,
      etag: policy.etag,
    });
    assert.equal(put.status, 403);
    // What it holds unconditionally it may still grant; and shortening a grant is never escalation.
    assert.equal((await add({ role: 'roles/kms.viewer', member: other.member })).status, 200);
    const current = (await as(holder.token).get(`${project()}/iam-policy`)).body;
    const sooner = new Date(clock.nowMs() + 60_000).toISOString();
    const shortened = current.bindings.map(
      (b: { role: string; members: string[]; condition?: { title: string; expiresAt?: string } }) =>
        b.role === 'roles/secretsmanager.viewer' && b.members.includes(other.member)
          ? { ...b, condition: { title: 'sooner', expiresAt: sooner } }
          : b,
    );
    const shorten = await as(holder.token).put(`${project()}/iam-policy`, {
      bindings: shortened,
      etag: current.etag,
    });
    assert.equal(shorten.status, 200, JSON.stringify(shorten.body));
  });
});
