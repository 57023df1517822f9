import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CofferApiError,
  CofferClient,
  type InstanceRef,
  type KeyRef,
  type RegionRef,
  type SecretRef,
  secretBytes,
  secretValueFields,
} from '../src/sdk/index.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('The typed client against a real node', () => {
  let node: TestNode;
  let admin: CofferClient;
  let region: RegionRef;
  let instance: InstanceRef;

  before(async () => {
    node = await startTestNode();
    admin = new CofferClient({ address: node.url, token: node.adminToken });
    const project = await admin.projects.create({ displayName: 'sdk' });
    region = { projectId: project.id, regionId: 'local' };
    const created = await admin.secrets.createInstance(region, { name: 'main' });
    instance = { ...region, instanceId: created.id };
  });
  after(() => node?.destroy());

  test('sys, projects and regions answer with the core API types', async () => {
    assert.equal((await admin.sys.health()).status, 'ok');
    assert.equal((await admin.sys.sealStatus()).sealed, false);
    assert.ok((await admin.projects.listRegions()).items.some((r) => r.id === 'local'));
    const project = await admin.projects.get(region);
    assert.equal(project.displayName, 'sdk');
    const updated = await admin.projects.update(region, { displayName: 'sdk2', etag: project.etag });
    assert.equal(updated.displayName, 'sdk2');
    assert.ok((await admin.projects.list()).items.some((p) => p.id === region.projectId));
    assert.ok(typeof (await admin.sys.openApi()).openapi === 'string');
  });

  test('secrets: create, put, get by version and stage, versions, stages, batch, patch, delete, restore', async () => {
    const ref: SecretRef = { ...instance, secret: 'prod/db/password' };
    const created = await admin.secrets.createSecret(instance, {
      path: ref.secret,
      value: 'one',
      labels: { env: 'prod' },
    });
    assert.equal(created.latestVersion, 1);
    assert.equal(created.name.endsWith('/secrets/prod%2Fdb%2Fpassword'), true);
    assert.deepEqual(await admin.secrets.putSecretValue(ref, { value: 'two' }), { version: 2 });
    assert.equal((await admin.secrets.getSecretValue(ref)).value, 'two');
    assert.equal((await admin.secrets.getSecretValue(ref, { version: 1 })).value, 'one');
    assert.equal((await admin.secrets.getSecretValue(ref, { stage: 'previous' })).value, 'one');
    assert.deepEqual((await admin.secrets.listStages(ref)).items, [
      { stage: 'current', version: 2 },
      { stage: 'previous', version: 1 },
    ]);
    assert.deepEqual(await admin.secrets.moveStage(ref, 'pending', 1), { stage: 'pending', version: 1 });
    assert.deepEqual(
      (await admin.secrets.listVersions(ref)).items.map((v) => v.version),
      [1, 2],
    );
    assert.equal((await admin.secrets.setVersionState(ref, 1, 'disable')).state, 'disabled');
    assert.equal((await admin.secrets.getVersion(ref, 1)).state, 'disabled');
    await admin.secrets.setVersionState(ref, 1, 'enable');

    const batch = await admin.secrets.batchGetValues(instance, [ref.secret, 'missing']);
    assert.deepEqual(
      batch.values.map((v) => [v.path, v.value]),
      [[ref.secret, 'two']],
    );
    assert.equal(batch.errors[0]?.error.code, 'not_found');

    const patched = await admin.secrets.patchSecret(ref, { labels: { env: 'staging' } });
    assert.deepEqual(patched.labels, { env: 'staging' });
    const listed = [];
    for await (const secret of admin.secrets.listAllSecrets(instance, { prefix: 'prod/', pageSize: 1 }))
      listed.push(secret.path);
    assert.deepEqual(listed, [ref.secret]);

    const pending = await admin.secrets.deleteSecret(ref, { recoveryWindowDays: 7 });
    assert.ok(pending?.deleteTime);
    await assert.rejects(admin.secrets.getSecretValue(ref), { code: 'failed_precondition' });
    assert.equal((await admin.secrets.restoreSecret(ref)).deleteTime, null);
    assert.equal(await admin.secrets.deleteSecret(ref, { recoveryWindowDays: 0 }), undefined);
    await assert.rejects(admin.secrets.getSecret(ref), (err: unknown) => {
      assert.ok(err instanceof CofferApiError);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'not_found');
      assert.ok(err.requestId);
      return true;
    });
  });

  test('a put retried with the same Idempotency-Key adds one version, and binary values round-trip', async () => {
    const ref: SecretRef = { ...instance, secret: 'idem' };
    await admin.secrets.createSecret(instance, { path: ref.secret });
    const first = await admin.secrets.putSecretValue(ref, { value: 'a' }, { idempotencyKey: 'k-1' });
    const again = await admin.secrets.putSecretValue(ref, { value: 'a' }, { idempotencyKey: 'k-1' });
    assert.deepEqual(again, first);
    assert.equal((await admin.secrets.listVersions(ref)).items.length, 1);

    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 10]);
    const fields = secretValueFields(bytes);
    assert.ok('binaryValue' in fields);
    await admin.secrets.putSecretValue(ref, fields);
    assert.deepEqual(secretBytes(await admin.secrets.getSecretValue(ref)), bytes);
    assert.deepEqual(secretValueFields(Buffer.from('\ufeffhé\n')), { value: '\ufeffhé\n' });
  });

  test('the X-Request-Id of a call is the one in its audit events', async () => {
    const ref: SecretRef = { ...instance, secret: 'traced' };
    await admin.secrets.createSecret(instance, { path: ref.secret, value: 'v' });
    await admin.secrets.getSecretValue(ref, {}, { requestId: 'sdk-trace-42' });
    const events = await admin.audit.listEvents(region, { requestId: 'sdk-trace-42' });
    assert.deepEqual(
      events.items.map((e) => e.action),
      ['secrets.get_value'],
    );
  });

  test('kms: key rings, keys, versions, lifecycle and every crypto operation', async () => {
    const ring = await admin.kms.createKeyRing(region, { displayName: 'ring' });
    const ringRef = { ...region, keyRingId: ring.id };
    assert.equal((await admin.kms.getKeyRing(ringRef)).displayName, 'ring');
    assert.equal((await admin.kms.listKeyRings(region)).items.length, 1);
    const aes = await admin.kms.createKey(ringRef, { algorithm: 'aes256-gcm96', slug: 'data' });
    const aesRef: KeyRef = { ...ringRef, keyId: aes.id };
    const encrypted = await admin.kms.encrypt(aesRef, { plaintext: b64('hello'), aad: b64('ctx') });
    const decrypted = await admin.kms.decrypt(aesRef, { ciphertext: encrypted.ciphertext, aad: b64('ctx') });
    assert.equal(Buffer.from(decrypted.plaintext, 'base64').toString(), 'hello');
    const dataKey = await admin.kms.generateDataKey(aesRef, { numberOfBytes: 32 });
    assert.equal(Buffer.from(dataKey.plaintext!, 'base64').length, 32);
    assert.equal((await admin.kms.rotateKey(aesRef)).primaryVersion, 2);
    assert.equal(
      (await admin.kms.rewrap(aesRef, { ciphertext: encrypted.ciphertext, aad: b64('ctx') })).keyVersion,
      2,
    );
    assert.deepEqual(
      (await admin.kms.listKeyVersions(aesRef)).items.map((v) => v.version),
      [1, 2],
    );
    assert.equal(
      (await admin.kms.setKeyVersionState({ ...aesRef, version: 1 }, 'disable')).state,
      'disabled',
    );
    assert.equal((await admin.kms.getKeyVersion({ ...aesRef, version: 1 })).state, 'disabled');
    assert.deepEqual(await admin.kms.getKeyDependents(aesRef), {
      secrets: [],
      instances: [],
      secretCount: 0,
      instanceCount: 0,
    });
    assert.equal((await admin.kms.changeKeyState(aesRef, 'disable')).state, 'disabled');
    await assert.rejects(admin.kms.encrypt(aesRef, { plaintext: b64('x') }), { code: 'key_not_active' });
    assert.equal((await admin.kms.changeKeyState(aesRef, 'enable')).state, 'active');
    const scheduled = await admin.kms.changeKeyState(aesRef, 'schedule-deletion', { pendingWindowDays: 7 });
    assert.equal(scheduled.state, 'pending_deletion');
    assert.equal((await admin.kms.changeKeyState(aesRef, 'cancel-deletion')).state, 'disabled');

    const signer = await admin.kms.createKey(ringRef, { algorithm: 'ed25519' });
    const signerRef = { ...ringRef, keyId: signer.id };
    const signature = await admin.kms.sign(signerRef, { data: b64('msg') });
    assert.equal(
      (await admin.kms.verify(signerRef, { data: b64('msg'), signature: signature.signature })).valid,
      true,
    );
    assert.equal(
      (await admin.kms.verify(signerRef, { data: b64('msX'), signature: signature.signature })).valid,
      false,
    );
    assert.match((await admin.kms.getPublicKey({ ...signerRef, version: 1 })).pem, /BEGIN PUBLIC KEY/);

    const hmac = await admin.kms.createKey(ringRef, { algorithm: 'hmac-sha256' });
    const hmacRef = { ...ringRef, keyId: hmac.id };
    const mac = await admin.kms.mac(hmacRef, { data: b64('m') });
    assert.equal((await admin.kms.verifyMac(hmacRef, { data: b64('m'), mac: mac.mac })).valid, true);
    assert.equal((await admin.kms.listKeys(ringRef)).items.length, 3);
  });

  test('iam: a service account with a token reads exactly the secret it is bound to', async () => {
    await admin.secrets.createSecret(instance, { path: 'granted', value: 'yes' });
    await admin.secrets.createSecret(instance, { path: 'other', value: 'no' });
    const account = await admin.iam.createServiceAccount(region, { name: 'sdk-reader', displayName: 'SDK' });
    const accountRef = { projectId: region.projectId, email: account.email };
    assert.equal((await admin.iam.getServiceAccount(accountRef)).displayName, 'SDK');
    assert.equal((await admin.iam.listServiceAccounts(region)).items.length, 1);
    const issued = await admin.iam.createToken(accountRef, { ttl: '3600s' });
    assert.match(issued.token, /^cfr_/);
    assert.equal((await admin.iam.listTokens(accountRef)).items[0]?.id, issued.id);

    const member = `serviceAccount:${account.email}`;
    const granted: SecretRef = { ...instance, secret: 'granted' };
    const policy = await admin.iam.addBinding(granted, {
      role: 'roles/secretsmanager.secretAccessor',
      member,
    });
    assert.deepEqual(policy.bindings, [{ role: 'roles/secretsmanager.secretAccessor', members: [member] }]);
    assert.deepEqual((await admin.iam.getPolicy(granted)).bindings, policy.bindings);

    const app = new CofferClient({ address: node.url, token: issued.token });
    assert.equal((await app.secrets.getSecretValue(granted)).value, 'yes');
    await assert.rejects(app.secrets.getSecretValue({ ...instance, secret: 'other' }), {
      code: 'permission_denied',
    });
    assert.deepEqual(
      (await app.iam.testPermissions(granted, ['secrets.get_value', 'secrets.secrets.delete'])).permissions,
      ['secrets.get_value'],
    );

    await admin.iam.setServiceAccountDisabled(accountRef, true);
    await assert.rejects(app.secrets.getSecretValue(granted), { status: 401 });
    await admin.iam.setServiceAccountDisabled(accountRef, false);
    await admin.iam.revokeToken(accountRef, issued.id);
    await assert.rejects(app.secrets.getSecretValue(granted), { code: 'unauthenticated' });

    const removed = await admin.iam.removeBinding(granted, {
      role: 'roles/secretsmanager.secretAccessor',
      member,
    });
    assert.deepEqual(removed.bindings, []);
    assert.ok(
      (await admin.iam.listRoles()).items.some((r) => r.name === 'roles/secretsmanager.secretAccessor'),
    );
    assert.ok((await admin.iam.listPermissions()).items.some((p) => p.name === 'secrets.get_value'));
  });

  test('users log in with a password and get a token', async () => {
    await admin.iam.createUser({ email: 'dev@example.com', password: 'correct horse battery' });
    const session = await new CofferClient({ address: node.url }).iam.login({
      email: 'dev@example.com',
      password: 'correct horse battery',
    });
    assert.match(session.token, /^cfr_/);
    await assert.rejects(
      new CofferClient({ address: node.url }).iam.login({ email: 'dev@example.com', password: 'wrong' }),
      { code: 'unauthenticated' },
    );
  });

  test('audit: events page by page, system events, verification and the public key', async () => {
    const all = [];
    for await (const event of admin.audit.listAllEvents(region, { pageSize: 5 })) all.push(event);
    assert.ok(all.length > 10);
    assert.equal(new Set(all.map((e) => e.id)).size, all.length);
    assert.ok((await admin.audit.listEvents('system')).items.length > 0);
    assert.equal((await admin.audit.verify()).valid, true);
    assert.match((await admin.audit.publicKey()).pem, /BEGIN PUBLIC KEY/);
  });

  test('operations: switching an instance key starts a rewrap that wait() follows to the end', async () => {
    const ring = await admin.kms.createKeyRing(region, { displayName: 'instance-keys' });
    const ringRef = { ...region, keyRingId: ring.id };
    const key = await admin.kms.createKey(ringRef, { algorithm: 'aes256-gcm96' });
    const kms = await admin.iam.createServiceAccount(region, { name: 'sdk-kms-sa' });
    const member = `serviceAccount:${kms.email}`;
    await admin.iam.addBinding(region, { role: 'roles/secretsmanager.reader', member });
    await admin.iam.addBinding(
      { ...ringRef, keyId: key.id },
      { role: 'roles/kms.cryptoKeyEncrypterDecrypter', member },
    );
    const created = await admin.secrets.createInstance(region, { name: 'switching' });
    const ref = { ...region, instanceId: created.id };
    for (const path of ['a', 'b', 'c']) await admin.secrets.createSecret(ref, { path, value: path });
    const updated = await admin.secrets.updateInstance(ref, {
      name: 'switching',
      kmsKey: {
        regionId: region.regionId,
        projectId: region.projectId,
        serviceAccountEmail: kms.email,
        keyRingId: ring.id,
        keyId: key.id,
        keyVersion: 1,
      },
    });
    assert.ok(updated.operation);
    const seen: number[] = [];
    const done = await admin.operations.wait(
      { ...region, operationId: updated.operation.id },
      { intervalMs: 20, deadlineMs: 10_000, onProgress: (op) => seen.push(op.progress.done) },
    );
    assert.equal(done.done, true);
    assert.equal(done.error, undefined);
    assert.equal(done.progress.done, done.progress.total);
    assert.ok(seen.length >= 1);
    assert.equal((await admin.secrets.getSecretValue({ ...ref, secret: 'b' })).value, 'b');
    assert.equal((await admin.secrets.getInstance(ref)).kmsKey?.keyId, key.id);
    assert.equal((await admin.secrets.listInstances(region)).items.length, 2);
  });

  test('an empty instance can be deleted', async () => {
    const created = await admin.secrets.createInstance(region, { name: 'empty' });
    await admin.secrets.deleteInstance({ ...region, instanceId: created.id });
    await assert.rejects(admin.secrets.getInstance({ ...region, instanceId: created.id }), {
      code: 'not_found',
    });
  });
});
