import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const run = promisify(execFile);
const enc = encodeURIComponent;

// The ids seed 002 uses in its examples.
const PROJECT_ID = '00000000-0000-0000-0000-000000000000';
const REGION_ID = 'eu01';
const KEY_RING_ID = '11111111-1111-1111-1111-111111111111';
const FIRST_KEY_ID = '22222222-2222-2222-2222-222222222222';
const SECOND_KEY_ID = '33333333-3333-3333-3333-333333333333';
const SERVICE_ACCOUNT = 'svc-secrets@customer.example';
const INSTANCE_NAME = 'my-secrets-instance';

// The seed's curl commands, copied from its text (kms-encryption-instance-config.txt) unchanged.
const createWithKey = String.raw`curl -sS -X POST "$SM_API/v2/projects/$PROJECT_ID/regions/$REGION_ID/instances" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d '{ "name": "'"$INSTANCE_NAME"'", "kmsKey": { "regionId": "'"$REGION_ID"'", "projectId": "'"$PROJECT_ID"'", "serviceAccountEmail": "svc-secrets@customer.example", "keyRingId": "11111111-1111-1111-1111-111111111111", "keyId": "22222222-2222-2222-2222-222222222222", "keyVersion": 1 } }'`;
const changeKey = String.raw`curl -sS -X PUT "$SM_API/v2/projects/$PROJECT_ID/regions/$REGION_ID/instances/$INSTANCE_ID" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d '{ "name": "my-secrets-instance", "kmsKey": { "regionId": "'"$REGION_ID"'", "projectId": "'"$PROJECT_ID"'", "serviceAccountEmail": "svc-secrets@customer.example", "keyRingId": "11111111-1111-1111-1111-111111111111", "keyId": "33333333-3333-3333-3333-333333333333", "keyVersion": 2 } }'`;
// "Remove: … omitting kmsKey from the PUT payload or setting kmsKey explicitly to null": the PUT above
// with only that change to its payload.
const removeByOmitting = String.raw`curl -sS -X PUT "$SM_API/v2/projects/$PROJECT_ID/regions/$REGION_ID/instances/$INSTANCE_ID" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d '{ "name": "my-secrets-instance" }'`;
const removeWithNull = String.raw`curl -sS -X PUT "$SM_API/v2/projects/$PROJECT_ID/regions/$REGION_ID/instances/$INSTANCE_ID" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d '{ "name": "my-secrets-instance", "kmsKey": null }'`;

function curlSkipReason(): string | false {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'curl is not installed';
  }
}

describe('The seed 002 curl examples run verbatim in a test', { skip: curlSkipReason() }, () => {
  let node: TestNode;
  let admin: string;
  let operator: string;
  let instanceId = '';
  const instancesPath = `/v2/projects/${PROJECT_ID}/regions/${REGION_ID}/instances`;
  const ringPath = `/v2/projects/${PROJECT_ID}/regions/${REGION_ID}/keyrings/${KEY_RING_ID}`;
  const secretPath = 'db/password';

  const as = (token: string) => ({
    get: (path: string) => call(node.url, 'GET', path, { token }),
    post: (path: string, body: unknown = {}) => call(node.url, 'POST', path, { token, body }),
    put: (path: string, body: unknown) => call(node.url, 'PUT', path, { token, body }),
  });
  const keyName = (keyId: string) =>
    `projects/${PROJECT_ID}/regions/${REGION_ID}/keyrings/${KEY_RING_ID}/keys/${keyId}`;
  const seedKmsKey = (keyId: string, keyVersion: number) => ({
    regionId: REGION_ID,
    projectId: PROJECT_ID,
    serviceAccountEmail: SERVICE_ACCOUNT,
    keyRingId: KEY_RING_ID,
    keyId,
    keyVersion,
  });

  /** Runs one seed command in bash with only the seed's variables set; returns curl's parsed JSON. */
  async function curl(script: string): Promise<Record<string, unknown>> {
    // --norc: bash reads ~/.bashrc when its stdin is a socket (as Node's pipes are), as if run by sshd.
    const { stdout, stderr } = await run('bash', ['--norc', '-c', script], {
      env: {
        // PATH only so that bash finds curl; nothing else (no proxy settings) reaches the child.
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        SM_API: node.url,
        TOKEN: operator,
        PROJECT_ID,
        REGION_ID,
        INSTANCE_NAME,
        INSTANCE_ID: instanceId,
      },
    });
    assert.equal(stderr, '', 'curl -sS printed an error');
    return JSON.parse(stdout);
  }

  async function serviceAccount(name: string, email?: string): Promise<{ email: string; member: string }> {
    const created = await as(admin).post(`/v2/projects/${PROJECT_ID}/service-accounts`, {
      name,
      ...(email ? { email } : {}),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return { email: created.body.email, member: `serviceAccount:${created.body.email}` };
  }

  async function grant(resourcePath: string, role: string, member: string): Promise<void> {
    const granted = await as(admin).post(`${resourcePath}/iam-policy:add-binding`, { role, member });
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
  }

  async function readValue(): Promise<{ value: string; requestId: string }> {
    const read = await as(operator).get(
      `${instancesPath}/${instanceId}/secrets/${enc(secretPath)}/value?version=latest`,
    );
    assert.equal(read.status, 200, JSON.stringify(read.body));
    return { value: read.body.value, requestId: read.headers.get('x-request-id')! };
  }

  /** The kms.decrypt event a read wrote, if any (none under the built-in root-key protection). */
  async function decryptEventOf(requestId: string) {
    const events = await as(admin).get(
      `/v2/projects/${PROJECT_ID}/audit-events?action=kms.decrypt&requestId=${enc(requestId)}`,
    );
    assert.equal(events.status, 200, JSON.stringify(events.body));
    assert.ok(events.body.items.length <= 1, JSON.stringify(events.body.items));
    return events.body.items[0] as
      | { principal: string; onBehalfOf?: string; resource: string; details?: Record<string, unknown> }
      | undefined;
  }

  async function waitForOperation(operationId: string) {
    const path = `/v2/projects/${PROJECT_ID}/regions/${REGION_ID}/operations/${operationId}`;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const polled = await as(operator).get(path);
      assert.equal(polled.status, 200, JSON.stringify(polled.body));
      if (polled.body.done || Date.now() > deadline) return polled.body;
      await sleep(50);
    }
  }

  before(async () => {
    node = await startTestNode({ env: { COFFER_REGIONS: REGION_ID, COFFER_BACKGROUND_INTERVAL_MS: '200' } });
    admin = node.adminToken!;
    const project = await as(admin).post('/v2/projects', { id: PROJECT_ID });
    assert.equal(project.status, 201, JSON.stringify(project.body));
    const ring = await as(admin).post(`/v2/projects/${PROJECT_ID}/regions/${REGION_ID}/keyrings`, {
      id: KEY_RING_ID,
      displayName: 'secrets',
    });
    assert.equal(ring.status, 201, JSON.stringify(ring.body));
    for (const id of [FIRST_KEY_ID, SECOND_KEY_ID]) {
      const key = await as(admin).post(`${ringPath}/keys`, { id, algorithm: 'aes256-gcm96' });
      assert.equal(key.status, 201, JSON.stringify(key.body));
    }
    const rotated = await as(admin).post(`${ringPath}/keys/${SECOND_KEY_ID}/rotate`);
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    assert.equal(rotated.body.primaryVersion, 2);

    // The seed's service account, with the roles its prerequisites name.
    const svc = await serviceAccount('svc-secrets', SERVICE_ACCOUNT);
    assert.equal(svc.email, SERVICE_ACCOUNT);
    await grant(`/v2/projects/${PROJECT_ID}`, 'roles/secretsmanager.reader', svc.member);
    await grant(ringPath, 'roles/kms.cryptoKeyEncrypterDecrypter', svc.member);

    // "Use a Bearer token of an appropriate service account": one that administers Secrets Manager
    // and may name svc-secrets in a kmsKey (act_as), and nothing more.
    const ops = await serviceAccount('sm-operator');
    await grant(`/v2/projects/${PROJECT_ID}`, 'roles/secretsmanager.admin', ops.member);
    await grant(`/v2/projects/${PROJECT_ID}`, 'roles/iam.serviceAccountUser', ops.member);
    const issued = await as(admin).post(
      `/v2/projects/${PROJECT_ID}/service-accounts/${enc(ops.email)}/tokens`,
    );
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    operator = issued.body.token;
  });
  after(async () => {
    await node?.destroy();
  });

  test('create an instance with a KMS key: the answer is the instance with the seed’s kmsKey', async () => {
    const created = await curl(createWithKey);
    assert.equal(created.name, INSTANCE_NAME, JSON.stringify(created));
    assert.equal(created.projectId, PROJECT_ID);
    assert.equal(created.regionId, REGION_ID);
    assert.deepEqual(created.kmsKey, seedKmsKey(FIRST_KEY_ID, 1));
    assert.equal(created.operation, undefined);
    instanceId = String(created.id);
    const got = await as(operator).get(`${instancesPath}/${instanceId}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body.kmsKey, seedKmsKey(FIRST_KEY_ID, 1));

    // A secret with two versions, encrypted under the first key, version 1, as svc-secrets.
    const secret = await as(operator).post(`${instancesPath}/${instanceId}/secrets`, {
      path: secretPath,
      value: 'first-password',
    });
    assert.equal(secret.status, 201, JSON.stringify(secret.body));
    assert.deepEqual(secret.body.kmsKey, { identity: keyName(FIRST_KEY_ID), status: 'active' });
    const put = await as(operator).put(`${instancesPath}/${instanceId}/secrets/${enc(secretPath)}/value`, {
      value: 'second-password',
    });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    assert.equal(put.body.version, 2);
    const read = await readValue();
    assert.equal(read.value, 'second-password');
    const decrypt = await decryptEventOf(read.requestId);
    assert.equal(decrypt?.resource, keyName(FIRST_KEY_ID));
    assert.equal(decrypt?.principal, `serviceAccount:${SERVICE_ACCOUNT}`);
    assert.equal(decrypt?.details?.keyVersion, 1);
  });

  test('the first version, stored with the new secret, is encrypted under the instance key too', async () => {
    assert.ok(instanceId, 'the create step ran');
    const read = await as(operator).get(
      `${instancesPath}/${instanceId}/secrets/${enc(secretPath)}/value?version=1`,
    );
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.equal(read.body.value, 'first-password');
    const decrypt = await decryptEventOf(read.headers.get('x-request-id')!);
    assert.equal(decrypt?.resource, keyName(FIRST_KEY_ID), 'version 1 was wrapped by the instance key');
    assert.equal(decrypt?.principal, `serviceAccount:${SERVICE_ACCOUNT}`);
    assert.equal(decrypt?.details?.keyVersion, 1);
  });

  test('change the KMS key: the answer carries the new key and an operation that reaches done; reads never break', async () => {
    assert.ok(instanceId, 'the create step ran');
    const switched = await curl(changeKey);
    assert.equal(switched.id, instanceId, JSON.stringify(switched));
    assert.equal(switched.name, INSTANCE_NAME);
    assert.deepEqual(switched.kmsKey, seedKmsKey(SECOND_KEY_ID, 2));
    const operation = switched.operation as { id: string; name: string };
    assert.equal(typeof operation?.id, 'string', JSON.stringify(switched));
    assert.equal(operation.name, `projects/${PROJECT_ID}/regions/${REGION_ID}/operations/${operation.id}`);
    assert.equal((await readValue()).value, 'second-password', 'reads work while the rewrap runs');

    const finished = await waitForOperation(operation.id);
    assert.equal(finished.done, true, JSON.stringify(finished));
    assert.equal(finished.state, 'done', JSON.stringify(finished));
    assert.deepEqual(finished.progress, { total: 2, done: 2 });

    const read = await readValue();
    assert.equal(read.value, 'second-password');
    const decrypt = await decryptEventOf(read.requestId);
    assert.equal(decrypt?.resource, keyName(SECOND_KEY_ID), 'the value is now wrapped by the new key');
    assert.equal(decrypt?.details?.keyVersion, 2, 'with the configured key version');
    assert.equal(decrypt?.principal, `serviceAccount:${SERVICE_ACCOUNT}`);
    const first = await as(operator).get(
      `${instancesPath}/${instanceId}/secrets/${enc(secretPath)}/value?version=1`,
    );
    assert.equal(first.body.value, 'first-password', 'older versions were rewrapped too');
  });

  for (const [how, script] of [
    ['omitting kmsKey', removeByOmitting],
    ['setting kmsKey to null', removeWithNull],
  ] as const) {
    test(`remove the KMS key by ${how}: the answer has kmsKey null and the values still read`, async () => {
      assert.ok(instanceId, 'the create step ran');
      const current = await as(operator).get(`${instancesPath}/${instanceId}`);
      if (current.body.kmsKey === null) {
        // The other removal ran first: add the key back with the seed's PUT ("or add one later").
        const added = await curl(changeKey);
        assert.deepEqual(added.kmsKey, seedKmsKey(SECOND_KEY_ID, 2), JSON.stringify(added));
        const readded = await waitForOperation((added.operation as { id: string }).id);
        assert.equal(readded.state, 'done', JSON.stringify(readded));
      }
      const removed = await curl(script);
      assert.equal(removed.id, instanceId, JSON.stringify(removed));
      assert.equal(removed.name, INSTANCE_NAME);
      assert.equal(removed.kmsKey, null);
      const operation = removed.operation as { id: string };
      assert.equal(typeof operation?.id, 'string', 'removing the key rewraps under the root key');
      assert.equal((await readValue()).value, 'second-password', 'reads work while the rewrap runs');
      const finished = await waitForOperation(operation.id);
      assert.equal(finished.state, 'done', JSON.stringify(finished));
      assert.deepEqual(finished.progress, { total: 2, done: 2 });

      const read = await readValue();
      assert.equal(read.value, 'second-password');
      assert.equal(
        await decryptEventOf(read.requestId),
        undefined,
        'under the built-in root-key protection a read makes no kms.decrypt',
      );
      const got = await as(operator).get(`${instancesPath}/${instanceId}`);
      assert.equal(got.body.kmsKey, null);
      const metadata = await as(operator).get(`${instancesPath}/${instanceId}/secrets/${enc(secretPath)}`);
      assert.deepEqual(metadata.body.kmsKey, { identity: null, status: 'active' });
    });
  }

  test('troubleshooting: a kmsKey.regionId other than the instance’s region is 400 region_mismatch', async () => {
    const res = await as(operator).post(instancesPath, {
      name: 'wrong-region',
      kmsKey: { ...seedKmsKey(FIRST_KEY_ID, 1), regionId: 'eu02' },
    });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'region_mismatch');
  });

  test('troubleshooting: a projectId that is not the key’s project is 400 project_mismatch', async () => {
    const other = await as(admin).post('/v2/projects', { id: '44444444-4444-4444-4444-444444444444' });
    assert.equal(other.status, 201, JSON.stringify(other.body));
    const res = await as(operator).post(instancesPath, {
      name: 'wrong-project',
      kmsKey: { ...seedKmsKey(FIRST_KEY_ID, 1), projectId: other.body.id },
    });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'project_mismatch');
  });

  test('troubleshooting: a service account without Secrets Manager Reader or Admin is 403 permission_denied', async () => {
    // It may use the key, but holds no Secrets Manager role: create and switch are both refused.
    const keyOnly = await serviceAccount('svc-keyonly', 'svc-keyonly@customer.example');
    await grant(ringPath, 'roles/kms.cryptoKeyEncrypterDecrypter', keyOnly.member);
    const kmsKey = { ...seedKmsKey(FIRST_KEY_ID, 1), serviceAccountEmail: keyOnly.email };
    const created = await as(operator).post(instancesPath, { name: 'no-reader', kmsKey });
    assert.equal(created.status, 403, JSON.stringify(created.body));
    assert.equal(created.body.error.code, 'permission_denied');
    assert.match(created.body.error.message, /roles\/secretsmanager\.reader/, 'refused for the role');
    const switched = await as(operator).put(`${instancesPath}/${instanceId}`, {
      name: INSTANCE_NAME,
      kmsKey,
    });
    assert.equal(switched.status, 403, JSON.stringify(switched.body));
    assert.equal(switched.body.error.code, 'permission_denied');
    // A service account that does not exist is refused the same way.
    const ghost = await as(operator).post(instancesPath, {
      name: 'ghost',
      kmsKey: { ...seedKmsKey(FIRST_KEY_ID, 1), serviceAccountEmail: 'ghost@customer.example' },
    });
    assert.equal(ghost.status, 403, JSON.stringify(ghost.body));
    assert.equal(ghost.body.error.code, 'permission_denied');
    const unchanged = await as(operator).get(`${instancesPath}/${instanceId}`);
    assert.equal(unchanged.body.kmsKey, null, 'a refused switch changes nothing');
  });
});
