import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, startTestNode, type TestNode } from './support/test-node.ts';
import { storedAuditEvents } from './support/audit-events.ts';

const enc = encodeURIComponent;

/**
 * batchGetValues reads as a batch (src/secrets/batch-reveal.ts) but answers each secret exactly as
 * getSecretValue answers it for the same caller, and audits each as getSecretValue does, all in the
 * request's one append.
 */
describe('batchGetValues answers and audits each secret as a single read would', () => {
  let node: TestNode;
  let admin: string;
  let instance: string;
  let reader: { token: string; member: string };
  const api = (
    method: string,
    path: string,
    body?: unknown,
    token = admin,
    headers: Record<string, string> = {},
  ) => call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}), headers });
  const eventsOf = async (requestId: string) =>
    (await storedAuditEvents(node.app.storage.db, { requestId })).map((e) => ({
      action: e.action,
      resource: e.resource,
      result: e.result,
      status: e.status,
      principal: e.principal,
      on_behalf_of: e.on_behalf_of,
    }));

  before(async () => {
    node = await startTestNode();
    admin = node.adminToken!;
    const project = (await api('POST', '/v2/projects', {})).body.id as string;
    const region = `/v2/projects/${project}/regions/local`;
    instance = `${region}/instances/${(await api('POST', `${region}/instances`, { name: 'b' })).body.id}`;
    const ring = (await api('POST', `${region}/keyrings`, { displayName: 'r' })).body.id as string;
    await api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96', slug: 'live' });
    const off = (
      await api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96', slug: 'off' })
    ).body.id as string;
    const make = async (body: Record<string, unknown>) =>
      assert.equal((await api('POST', `${instance}/secrets`, body)).status, 201);
    await make({ path: 'b/root', value: 'root-value' });
    await make({ path: 'b/kms', value: 'kms-value', kmsKeyIdentity: 'live' });
    await make({ path: 'b/empty' });
    await make({ path: 'b/deleted', value: 'gone' });
    await make({ path: 'b/off', value: 'off-value', kmsKeyIdentity: 'off' });
    await make({ path: 'b/secret-only', value: 'not for the reader' });
    assert.equal(
      (await api('DELETE', `${instance}/secrets/${enc('b/deleted')}?recoveryWindowDays=7`)).status < 300,
      true,
    );
    assert.equal(
      (await api('POST', `${region}/keyrings/${ring}/keys/${off}/disable?force=true`)).status,
      200,
    );
    const email = (await api('POST', `/v2/projects/${project}/service-accounts`, { name: 'batch-reader' }))
      .body.email as string;
    reader = {
      member: `serviceAccount:${email}`,
      token: (await api('POST', `/v2/projects/${project}/service-accounts/${enc(email)}/tokens`, {})).body
        .token as string,
    };
    // The reader may read every secret but one.
    for (const path of ['b/root', 'b/kms', 'b/empty', 'b/deleted', 'b/off']) {
      const bound = await api('POST', `${instance}/secrets/${enc(path)}/iam-policy:add-binding`, {
        role: 'roles/secretsmanager.secretAccessor',
        member: reader.member,
      });
      assert.equal(bound.status, 200, JSON.stringify(bound.body));
    }
  });
  after(async () => node?.destroy());

  const denied = 'The caller does not have permission for this operation.';
  const paths = ['b/root', 'b/kms', 'b/empty', 'b/deleted', 'b/off', 'b/missing', 'b/secret-only'];

  /** Reads `paths` as a batch and one by one; asserts they agree; returns the batch's answer and events. */
  async function compare(token: string, id: string) {
    const batch = await api('POST', `${instance}/secrets:batchGetValues`, { secrets: paths }, token, {
      'x-request-id': id,
    });
    assert.equal(batch.status, 200, JSON.stringify(batch.body));
    const expectedValues = [];
    const expectedErrors = [];
    const expectedEvents: unknown[] = [];
    for (const [i, path] of paths.entries()) {
      const single = await api('GET', `${instance}/secrets/${enc(path)}/value`, undefined, token, {
        'x-request-id': `${id}-single-${i}`,
      });
      if (single.status === 200) expectedValues.push({ path, ...single.body });
      else
        expectedErrors.push({
          path,
          // A refusal in a batch keeps the batch's short message (it names no permission or resource).
          error: {
            code: single.body.error.code,
            message: single.body.error.code === 'permission_denied' ? denied : single.body.error.message,
          },
        });
      // A denied single read is refused by the route guard; the batch audits the same outcome.
      expectedEvents.push(
        ...(await eventsOf(`${id}-single-${i}`)).map((e) => ({
          ...e,
          status: e.status === null ? null : Number(e.status),
        })),
      );
    }
    assert.deepEqual(batch.body.values, expectedValues);
    assert.deepEqual(batch.body.errors, expectedErrors);
    const events = (await eventsOf(id)).map((e) => ({
      ...e,
      status: e.status === null ? null : Number(e.status),
    }));
    assert.equal(events.filter((e) => e.action === 'secrets.batch_get_values').length, 1);
    assert.deepEqual(
      events.filter((e) => e.action !== 'secrets.batch_get_values'),
      expectedEvents,
    );
    return { body: batch.body, events };
  }

  test('values, per-secret errors and audit events match getSecretValue secret by secret', async () => {
    const { body: admins } = await compare(admin, 'batch-admin');
    assert.deepEqual(
      admins.errors.map((e: { path: string; error: { code: string } }) => [e.path, e.error.code]),
      [
        ['b/empty', 'not_found'],
        ['b/deleted', 'failed_precondition'],
        ['b/off', 'key_not_active'],
        ['b/missing', 'not_found'],
      ],
    );
    const { body: batch, events } = await compare(reader.token, 'batch-reader');
    assert.deepEqual(
      batch.values.map((v: { value: string }) => v.value),
      ['root-value', 'kms-value'],
    );
    assert.deepEqual(
      batch.errors.map((e: { path: string; error: { code: string } }) => [e.path, e.error.code]),
      [
        ['b/empty', 'not_found'],
        ['b/deleted', 'failed_precondition'],
        ['b/off', 'key_not_active'],
        ['b/missing', 'permission_denied'],
        ['b/secret-only', 'permission_denied'],
      ],
    );
    assert.deepEqual(
      events.filter((e) => e.action === 'kms.decrypt').map((e) => [e.result, e.on_behalf_of]),
      [['ok', reader.member]],
    );
  });

  test('the key checks the secrets share are made once per batch: the instance service account is checked once', async () => {
    const project = (await api('POST', '/v2/projects', {})).body.id as string;
    const region = `/v2/projects/${project}/regions/local`;
    const ring = (await api('POST', `${region}/keyrings`, { displayName: 'sa' })).body.id as string;
    const key = (await api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96' })).body
      .id as string;
    const email = (await api('POST', `/v2/projects/${project}/service-accounts`, { name: 'acting-sa' })).body
      .email as string;
    const member = `serviceAccount:${email}`;
    await api('POST', `/v2/projects/${project}/iam-policy:add-binding`, {
      role: 'roles/secretsmanager.reader',
      member,
    });
    await api('POST', `${region}/keyrings/${ring}/iam-policy:add-binding`, {
      role: 'roles/kms.cryptoKeyEncrypterDecrypter',
      member,
    });
    const kmsKey = {
      regionId: 'local',
      projectId: project,
      serviceAccountEmail: email,
      keyRingId: ring,
      keyId: key,
      keyVersion: 1,
    };
    const created = await api('POST', `${region}/instances`, { name: 'sa', kmsKey });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const base = `${region}/instances/${created.body.id}`;
    const paths = ['sa/1', 'sa/2', 'sa/3', 'sa/4'];
    for (const path of paths)
      assert.equal((await api('POST', `${base}/secrets`, { path, value: `v-${path}` })).status, 201);
    const authorizer = node.app.authorizer;
    const hasRole = authorizer.hasRole.bind(authorizer);
    let checks = 0;
    authorizer.hasRole = (principal, roles, resource) => {
      if (principal === member) checks++;
      return hasRole(principal, roles, resource);
    };
    try {
      const batch = await api('POST', `${base}/secrets:batchGetValues`, { secrets: paths }, admin, {
        'x-request-id': 'batch-acting',
      });
      assert.equal(batch.status, 200, JSON.stringify(batch.body));
      assert.deepEqual(
        batch.body.values.map((v: { value: string }) => v.value),
        paths.map((path) => `v-${path}`),
      );
      assert.equal(checks, 1, 'the acting identity is checked once for the batch');
      checks = 0;
      assert.equal((await api('GET', `${base}/secrets/${enc('sa/1')}/value`)).status, 200);
      assert.equal(checks, 1, 'and again by the next request');
    } finally {
      authorizer.hasRole = hasRole;
    }
    const decrypts = (await eventsOf('batch-acting')).filter((e) => e.action === 'kms.decrypt');
    assert.deepEqual(
      decrypts.map((e) => [e.principal, e.result]),
      paths.map(() => [member, 'ok']),
    );
  });

  test('a caller who may read none of the secrets is refused before anything is looked up', async () => {
    const res = await api(
      'POST',
      `${instance}/secrets:batchGetValues`,
      { secrets: ['b/secret-only', 'b/nowhere'] },
      reader.token,
    );
    assert.equal(res.status, 403);
  });

  test('a path with an unpaired surrogate is refused with 400 invalid_argument (not a 500)', async () => {
    const batch = await api('POST', `${instance}/secrets:batchGetValues`, {
      secrets: ['b/root', 'b/\ud800x'],
    });
    assert.equal(batch.status, 400, JSON.stringify(batch.body));
    assert.equal(batch.body.error?.code ?? batch.body.code, 'invalid_argument');
  });
});
