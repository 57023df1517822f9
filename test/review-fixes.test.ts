import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, startTestNode, type TestNode } from './support/test-node.ts';
import { storedAuditEvents } from './support/audit-events.ts';

/** Regression tests for the findings of the security review. */
describe('review findings stay fixed', () => {
  let node: TestNode;
  let admin: string;
  let project: string;
  let region: string;
  let instance: string;
  const api = (
    method: string,
    path: string,
    body?: unknown,
    token = admin,
    headers: Record<string, string> = {},
  ) => call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}), headers });
  async function serviceAccount(name: string, inProject = project) {
    const email = (await api('POST', `/v2/projects/${inProject}/service-accounts`, { name })).body
      .email as string;
    const token = (
      await api('POST', `/v2/projects/${inProject}/service-accounts/${encodeURIComponent(email)}/tokens`, {})
    ).body.token as string;
    return { email, token, member: `serviceAccount:${email}` };
  }

  before(async () => {
    node = await startTestNode();
    admin = node.adminToken!;
    project = (await api('POST', '/v2/projects', {})).body.id;
    region = `/v2/projects/${project}/regions/local`;
    instance = `${region}/instances/${(await api('POST', `${region}/instances`, { name: 'i' })).body.id}`;
  });
  after(async () => node.destroy());

  test('an admin of one service cannot grant itself a role it does not fully hold (no path to owner)', async () => {
    const alice = await serviceAccount('kms-admin-alice');
    await api('POST', `/v2/projects/${project}/iam-policy:add-binding`, {
      role: 'roles/kms.admin',
      member: alice.member,
    });
    const escalate = await api(
      'POST',
      `/v2/projects/${project}/iam-policy:add-binding`,
      { role: 'roles/owner', member: alice.member },
      alice.token,
    );
    assert.equal(escalate.status, 403);
    const sideways = await api(
      'POST',
      `/v2/projects/${project}/iam-policy:add-binding`,
      { role: 'roles/secretsmanager.reader', member: alice.member },
      alice.token,
    );
    assert.equal(sideways.status, 403);
    const within = await api(
      'POST',
      `/v2/projects/${project}/iam-policy:add-binding`,
      { role: 'roles/kms.viewer', member: alice.member },
      alice.token,
    );
    assert.equal(within.status, 200);
  });

  test('a project cannot take another project’s internal service-account address', async () => {
    const other = (await api('POST', '/v2/projects', {})).body.id;
    const squat = await api('POST', `/v2/projects/${other}/service-accounts`, {
      name: 'deployer',
      email: `deployer@${project}.iam.coffer.internal`,
    });
    assert.equal(squat.status, 400);
    assert.equal(
      (await api('POST', `/v2/projects/${project}/service-accounts`, { name: 'deployer' })).status,
      201,
    );
  });

  test('durations and timestamps too large to represent are 400, and lists keep working', async () => {
    assert.equal(
      (await api('POST', `${instance}/secrets`, { path: 'huge', ttl: 100000000000000000 })).status,
      400,
    );
    assert.equal(
      (await api('POST', `${instance}/secrets`, { path: 'huge', ttl: '999999999999s' })).status,
      400,
    );
    assert.equal(
      (await api('POST', `${instance}/secrets`, { path: 'huge', expireTime: '+033658-01-01T00:00:00Z' }))
        .status,
      400,
    );
    const ring = (await api('POST', `${region}/keyrings`, { displayName: 'r' })).body.id;
    assert.equal(
      (
        await api('POST', `${region}/keyrings/${ring}/keys`, {
          algorithm: 'aes256-gcm96',
          rotationPeriod: 100000000000000000,
        })
      ).status,
      400,
    );
    assert.equal((await api('GET', `${instance}/secrets`)).status, 200);
    assert.equal((await api('GET', `${region}/keyrings/${ring}/keys`)).status, 200);
  });

  test('a purged secret’s policy does not pass to a new secret at the same path', async () => {
    const bob = await serviceAccount('bob-accessor');
    await api('POST', `${instance}/secrets`, { path: 'team/api-key', value: 'old' });
    const path = `${instance}/secrets/${encodeURIComponent('team/api-key')}`;
    await api('POST', `${path}/iam-policy:add-binding`, {
      role: 'roles/secretsmanager.secretAccessor',
      member: bob.member,
    });
    assert.equal((await api('GET', `${path}/value`, undefined, bob.token)).status, 200);
    assert.equal((await api('DELETE', `${path}?recoveryWindowDays=0`)).status, 204);
    await api('POST', `${instance}/secrets`, { path: 'team/api-key', value: 'new' });
    assert.deepEqual((await api('GET', `${path}/iam-policy`)).body.bindings, []);
    assert.equal((await api('GET', `${path}/value`, undefined, bob.token)).status, 403);
  });

  test('a failed KMS decrypt behind a reveal is audited as an error, not ok', async () => {
    const ring = (await api('POST', `${region}/keyrings`, { displayName: 'a' })).body.id;
    const key = (
      await api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96', slug: 'audited' })
    ).body.id;
    await api('POST', `${instance}/secrets`, { path: 'k', value: 'v', kmsKeyIdentity: 'audited' });
    await api('POST', `${region}/keyrings/${ring}/keys/${key}/rotate`);
    await api('POST', `${region}/keyrings/${ring}/keys/${key}/versions/1/disable`);
    const res = await api('GET', `${instance}/secrets/k/value`, undefined, admin, {
      'x-request-id': 'failed-decrypt',
    });
    assert.equal(res.status, 400);
    const events = await storedAuditEvents(node.app.storage.db, { requestId: 'failed-decrypt' });
    const kms = events.find((e) => e.action === 'kms.decrypt');
    assert.equal(kms?.result, 'error');
    assert.equal(kms?.status, 400);
  });

  test('batchGetValues tells a stranger nothing about instances or projects', async () => {
    const stranger = await serviceAccount('stranger-acct');
    const real = await api('POST', `${instance}/secrets:batchGetValues`, { secrets: ['a'] }, stranger.token);
    const fake = await api(
      'POST',
      `${region}/instances/99999999-9999-9999-9999-999999999999/secrets:batchGetValues`,
      { secrets: ['a'] },
      stranger.token,
    );
    const noProject = await api(
      'POST',
      '/v2/projects/99999999-9999-9999-9999-999999999999/regions/local/instances/99999999-9999-9999-9999-999999999999/secrets:batchGetValues',
      { secrets: ['a'] },
      stranger.token,
    );
    assert.deepEqual([real.status, fake.status, noProject.status], [403, 403, 403]);
  });

  test('the root policy can grant roles while the first admin stays owner', async () => {
    const auditor = await serviceAccount('root-auditor');
    const res = await api('POST', '/v2/iam-policy:add-binding', {
      role: 'roles/audit.viewer',
      member: auditor.member,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  test('unseal attempts are audited', async () => {
    const shamir = await startTestNode({ env: { COFFER_SEAL: 'shamir' } });
    try {
      const init = await call(shamir.url, 'POST', '/v2/sys/init', {
        body: { secretShares: 2, secretThreshold: 2 },
      });
      // An accepted share is one event; a value that is no share is counted in the minute's tally.
      await call(shamir.url, 'POST', '/v2/sys/unseal', { body: { key: init.body.keys[0] } });
      await call(shamir.url, 'POST', '/v2/sys/unseal', {
        body: { key: Buffer.alloc(33, 1).toString('base64') },
      });
      await shamir.app.unauthenticatedAudit.flush();
      const events = await shamir.app.storage.db
        .selectFrom('audit_events')
        .selectAll()
        .where('action', 'in', ['sys.unseal', 'auth.unauthenticated'])
        .execute();
      const unseals = events.filter((e) => e.action === 'sys.unseal');
      assert.equal(unseals.length, 1);
      assert.equal(unseals[0]!.principal, 'anonymous');
      assert.ok(
        events.some(
          (e) => e.action === 'auth.unauthenticated' && JSON.parse(e.details!).action === 'sys.unseal',
        ),
      );
    } finally {
      await shamir.destroy();
    }
  });

  test('an empty body declared as JSON is no body, not a 400', async () => {
    await api('POST', `${instance}/secrets`, { path: 'empty-body' });
    const res = await call(node.url, 'DELETE', `${instance}/secrets/empty-body?recoveryWindowDays=0`, {
      token: admin,
      headers: { 'content-type': 'application/json', 'content-length': '0' },
    });
    assert.equal(res.status, 204);
  });
});
