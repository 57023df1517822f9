import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

/** A project with a symmetric key, a service account that may use it, and an instance with one secret. */
async function setUp(node: TestNode) {
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: node.adminToken!, ...(body !== undefined ? { body } : {}) });
  const project = (await api('POST', '/v2/projects', {})).body.id as string;
  const region = `/v2/projects/${project}/regions/local`;
  const ring = (await api('POST', `${region}/keyrings`, { displayName: 'r' })).body.id as string;
  const key = (await api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96' })).body;
  const sa = (await api('POST', `/v2/projects/${project}/service-accounts`, { name: 'kms-sa' })).body.email;
  for (const [path, role] of [
    [`/v2/projects/${project}`, 'roles/secretsmanager.reader'],
    [`${region}/keyrings/${ring}`, 'roles/kms.cryptoKeyEncrypterDecrypter'],
  ])
    await api('POST', `${path}/iam-policy:add-binding`, { role, member: `serviceAccount:${sa}` });
  const instance = (await api('POST', `${region}/instances`, { name: 'main' })).body;
  const base = `${region}/instances/${instance.id}`;
  assert.equal((await api('POST', `${base}/secrets`, { path: 'a', value: 'v1' })).status, 201);
  const kmsKey = {
    regionId: 'local',
    projectId: project,
    serviceAccountEmail: sa,
    keyRingId: ring,
    keyId: key.id,
    keyVersion: 1,
  };
  const setKms = async (on: boolean) =>
    assert.equal((await api('PATCH', `/v2/projects/${project}`, { features: { kms: on } })).status, 200);
  const kmsEvents = async () =>
    (
      await node.app.storage.db
        .selectFrom('audit_events')
        .select('action')
        .where('action', 'in', ['kms.encrypt', 'kms.decrypt'])
        .execute()
    ).length;
  return { api, project, region, base, kmsKey, setKms, kmsEvents };
}

test('with the kms gate off, an instance cannot be created with or switched onto a KMS key (feature_disabled)', async () => {
  const node = await startTestNode({ env: { COFFER_BACKGROUND_INTERVAL_MS: '3600000' } });
  try {
    const { api, region, base, kmsKey, setKms, kmsEvents } = await setUp(node);
    await setKms(false);
    const created = await api('POST', `${region}/instances`, { name: 'other', kmsKey });
    assert.equal(created.status, 403);
    assert.equal(created.body.error.code, 'feature_disabled');
    const switched = await api('PUT', base, { name: 'main', kmsKey });
    assert.equal(switched.status, 403);
    assert.equal(switched.body.error.code, 'feature_disabled');
    await node.app.instances.runOperations();
    assert.equal(await kmsEvents(), 0);
    // Root-key protection needs no gate.
    assert.equal((await api('POST', `${region}/instances`, { name: 'plain' })).status, 201);
    assert.equal((await api('PUT', base, { name: 'renamed' })).status, 200);
  } finally {
    await node.destroy();
  }
});

test('a rewrap onto a KMS key pauses while the kms gate is off and resumes once it is on', async () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 7));
  const node = await startTestNode({ env: { COFFER_BACKGROUND_INTERVAL_MS: '3600000' }, clock });
  try {
    const { api, project, base, kmsKey, setKms, kmsEvents } = await setUp(node);
    // Through the service: the route starts the operation at once, before the gate could close.
    const admin = await node.app.tokens.authenticate(node.adminToken!);
    const location = { projectId: project, regionId: 'local' };
    const instanceId = base.split('/').at(-1)!;
    const switched = await node.app.instances.update(
      location,
      instanceId,
      { name: 'main', kmsKey },
      admin,
      undefined,
    );
    const operation = `/v2/projects/${project}/regions/local/operations/${switched.operation!.id}`;
    await setKms(false);
    await node.app.instances.runOperations();
    const paused = (await api('GET', operation)).body;
    assert.equal(paused.state, 'paused');
    assert.match(paused.error, /kms feature is disabled/);
    assert.equal(paused.progress.done, 0);
    assert.equal(await kmsEvents(), 0);

    await setKms(true);
    clock.advance(10_000); // past the paused run's lease
    await node.app.instances.runOperations();
    const done = (await api('GET', operation)).body;
    assert.equal(done.state, 'done', JSON.stringify(done));
    assert.equal(await kmsEvents(), 1);
    assert.equal((await api('GET', `${base}/secrets/a/value`)).body.value, 'v1');
  } finally {
    await node.destroy();
  }
});
