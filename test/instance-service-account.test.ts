import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, startTestNode } from './support/test-node.ts';
import { storedAuditEvents } from './support/audit-events.ts';

test('an instance’s service account is re-checked at every crypto operation, and the caller must be allowed to act as it', async () => {
  const node = await startTestNode();
  const admin = node.adminToken!;
  const api = (method: string, path: string, body?: unknown, token = admin) =>
    call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
  try {
    const project = (await api('POST', '/v2/projects', {})).body.id;
    const region = `/v2/projects/${project}/regions/local`;
    const ring = (await api('POST', `${region}/keyrings`, { displayName: 'r' })).body.id;
    const key = (await api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96' })).body.id;
    const sa = (await api('POST', `/v2/projects/${project}/service-accounts`, { name: 'instance-sa' })).body
      .email;
    const member = `serviceAccount:${sa}`;
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
      serviceAccountEmail: sa,
      keyRingId: ring,
      keyId: key,
      keyVersion: 1,
    };

    // A caller without act_as on the service account cannot name it.
    const operator = (await api('POST', `/v2/projects/${project}/service-accounts`, { name: 'operator-sa' }))
      .body.email;
    await api('POST', `/v2/projects/${project}/iam-policy:add-binding`, {
      role: 'roles/secretsmanager.admin',
      member: `serviceAccount:${operator}`,
    });
    const opToken = (
      await api('POST', `/v2/projects/${project}/service-accounts/${encodeURIComponent(operator)}/tokens`, {})
    ).body.token;
    const refused = await api('POST', `${region}/instances`, { name: 'x', kmsKey }, opToken);
    assert.equal(refused.status, 403);
    assert.match(refused.body.error.message, /act_as/);

    const instance = (await api('POST', `${region}/instances`, { name: 'i', kmsKey })).body.id;
    const secrets = `${region}/instances/${instance}/secrets`;
    assert.equal((await api('POST', secrets, { path: 'db', value: 'v' })).status, 201);
    assert.equal((await api('GET', `${secrets}/db/value`)).body.value, 'v');
    const reveal = await storedAuditEvents(node.app.storage.db, { action: 'kms.decrypt' });
    assert.equal(reveal.at(-1)?.principal, member, 'KMS operations run as the service account');

    // The service account loses its key permission: the next value operation is refused.
    await api('POST', `${region}/keyrings/${ring}/iam-policy:remove-binding`, {
      role: 'roles/kms.cryptoKeyEncrypterDecrypter',
      member,
    });
    const denied = await api('GET', `${secrets}/db/value`);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'permission_denied');
    assert.equal((await api('PUT', `${secrets}/db/value`, { value: 'w' })).status, 403);
    assert.equal((await api('GET', `${secrets}/db`)).status, 200, 'metadata stays readable');
  } finally {
    await node.destroy();
  }
});
