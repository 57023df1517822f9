/**
 * Security regressions of the AWS face (issue 18 review): raw SigV4 requests signed here (so the
 * signed header set can be chosen), against one real listening node.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { initialAdminPrincipal } from '../src/iam/principal.ts';
import { type RawKey, rawAws } from './support/aws-raw.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

type Key = RawKey;

/** A raw SigV4 request to the node (test/support/aws-raw.ts), in eu-west-1. */
const raw = rawAws;

describe('AWS face security regressions', () => {
  let node: TestNode;
  let admin: string;
  let projectId: string;
  let ownerKey: Key;
  let viewerEmail: string;
  let viewerKey: Key;
  const clock = new ManualClock(Date.now());

  const grant = (resource: string, role: string, member: string) =>
    node.app.iam.addBinding(resource, role, member, undefined, initialAdminPrincipal);

  async function mint(email: string): Promise<Key> {
    const created = await call(
      node.url,
      'POST',
      `/v2/projects/${projectId}/service-accounts/${email}/access-keys`,
      { token: admin },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return { id: created.body.accessKeyId as string, secret: created.body.secretAccessKey as string };
  }

  before(async () => {
    node = await startTestNode({ env: { COFFER_AWS_REGIONS: 'auto' }, clock });
    admin = node.adminToken!;
    const created = await call(node.url, 'POST', '/v2/projects', {
      token: admin,
      body: { displayName: 'aws security' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    projectId = created.body.id as string;
    const owner = await node.app.iam.createServiceAccount(projectId, 'owner-app', undefined, '');
    await grant(`projects/${projectId}`, 'roles/owner', `serviceAccount:${owner.email}`);
    ownerKey = await mint(owner.email);
    const viewer = await node.app.iam.createServiceAccount(projectId, 'viewer-app', undefined, '');
    viewerEmail = viewer.email;
    viewerKey = await mint(viewerEmail);
    const secret = await raw(
      node,
      ownerKey,
      'secretsmanager.CreateSecret',
      JSON.stringify({ Name: 'app/db', SecretString: 'the-value', ClientRequestToken: randomUUID() }),
    );
    assert.equal(secret.status, 200, JSON.stringify(secret.body));
  });

  after(() => node.destroy());

  test('a string that is not well-formed UTF-16 (lone surrogate) is a SerializationException, never a 500', async () => {
    const bad = 'ab\ud800cd';
    for (const [target, input] of [
      ['secretsmanager.GetSecretValue', { SecretId: bad }],
      ['secretsmanager.BatchGetSecretValue', { SecretIdList: [bad] }],
      ['TrentService.DescribeKey', { KeyId: bad }],
      ['TrentService.Encrypt', { KeyId: `alias/${bad}`, Plaintext: 'AA==' }],
      ['TrentService.ListAliases', { KeyId: bad }],
      ['TrentService.Encrypt', { KeyId: 'alias/x', Plaintext: 'AA==', EncryptionContext: { [bad]: 'v' } }],
    ] as const) {
      const answer = await raw(node, ownerKey, target, JSON.stringify(input));
      assert.equal(answer.status, 400, `${target}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.__type, 'SerializationException', target);
    }
  });

  test('X-Amz-Target must be signed: a captured request cannot be replayed as another operation', async () => {
    const body = JSON.stringify({ SecretId: 'app/db' });
    const signed = ['content-type', 'host', 'x-amz-date'];
    const swapped = await raw(node, ownerKey, 'secretsmanager.DescribeSecret', body, {
      signed,
      after: { 'x-amz-target': 'secretsmanager.GetSecretValue' },
    });
    assert.equal(swapped.status, 400, JSON.stringify(swapped.body));
    assert.equal(swapped.body.__type, 'IncompleteSignatureException');
    assert.ok(!JSON.stringify(swapped.body).includes('the-value'));
    const swappedSigned = await raw(node, ownerKey, 'secretsmanager.DescribeSecret', body, {
      after: { 'x-amz-target': 'secretsmanager.GetSecretValue' },
    });
    assert.equal(swappedSigned.body.__type, 'InvalidSignatureException');
    const honest = await raw(node, ownerKey, 'secretsmanager.GetSecretValue', body);
    assert.equal(honest.status, 200, JSON.stringify(honest.body));
    assert.equal(honest.body.SecretString, 'the-value');
  });

  test('a refusal through an alias names the alias, never the key it points at: no alias existence oracle', async () => {
    const created = await raw(node, ownerKey, 'TrentService.CreateKey', '{}');
    const keyId = (created.body.KeyMetadata as { KeyId: string }).KeyId;
    const alias = await raw(
      node,
      ownerKey,
      'TrentService.CreateAlias',
      JSON.stringify({ AliasName: 'alias/known', TargetKeyId: keyId }),
    );
    assert.equal(alias.status, 200, JSON.stringify(alias.body));
    for (const [target, input] of [
      ['TrentService.Encrypt', (name: string) => ({ KeyId: name, Plaintext: 'AA==' })],
      ['TrentService.GenerateDataKey', (name: string) => ({ KeyId: name, KeySpec: 'AES_256' })],
      ['TrentService.DescribeKey', (name: string) => ({ KeyId: name })],
      ['TrentService.DeleteAlias', (name: string) => ({ AliasName: name })],
    ] as const) {
      const known = await raw(node, viewerKey, target, JSON.stringify(input('alias/known')));
      const absent = await raw(node, viewerKey, target, JSON.stringify(input('alias/nothere')));
      assert.equal(known.body.__type, 'AccessDeniedException', `${target}: ${JSON.stringify(known.body)}`);
      assert.equal(absent.body.__type, 'AccessDeniedException', target);
      assert.ok(
        !String(known.body.message).includes(keyId),
        `${target} names the key: ${known.body.message}`,
      );
      assert.equal(String(known.body.message).replace('known', 'nothere'), absent.body.message, target);
    }
  });

  test('a service account cannot re-enable its own disabled access key through /v2/access-keys (enabling needs act_as)', async () => {
    const token = await call(
      node.url,
      'POST',
      `/v2/projects/${projectId}/service-accounts/${viewerEmail}/tokens`,
      { token: admin, body: {} },
    );
    assert.equal(token.status, 201, JSON.stringify(token.body));
    const saToken = token.body.token as string;
    const disabled = await call(
      node.url,
      'POST',
      `/v2/projects/${projectId}/service-accounts/${viewerEmail}/access-keys/${viewerKey.id}/disable`,
      { token: admin },
    );
    assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
    const revived = await call(node.url, 'POST', `/v2/access-keys/${viewerKey.id}/enable`, {
      token: saToken,
    });
    assert.equal(revived.status, 400, JSON.stringify(revived.body));
    const use = await raw(node, viewerKey, 'secretsmanager.ListSecrets', '{}');
    assert.equal(use.body.__type, 'UnrecognizedClientException');
    // Disabling its own key stays allowed (it only gives up a credential).
    const enabled = await call(
      node.url,
      'POST',
      `/v2/projects/${projectId}/service-accounts/${viewerEmail}/access-keys/${viewerKey.id}/enable`,
      { token: admin },
    );
    assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
    const selfDisable = await call(node.url, 'POST', `/v2/access-keys/${viewerKey.id}/disable`, {
      token: saToken,
    });
    assert.equal(selfDisable.status, 200, JSON.stringify(selfDisable.body));
  });

  test('rotating the root token deletes the first admin’s access keys (a leaked root token’s key would outlive it)', async () => {
    const own = await call(node.url, 'POST', '/v2/access-keys', { token: admin, body: { projectId } });
    assert.equal(own.status, 201, JSON.stringify(own.body));
    const adminKey = { id: own.body.accessKeyId as string, secret: own.body.secretAccessKey as string };
    assert.equal((await raw(node, adminKey, 'secretsmanager.ListSecrets', '{}')).status, 200);
    const rotated = await call(node.url, 'POST', '/v2/sys/root-token:rotate', { token: admin, body: {} });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    admin = rotated.body.token as string;
    const refused = await raw(node, adminKey, 'secretsmanager.ListSecrets', '{}');
    assert.equal(refused.body.__type, 'UnrecognizedClientException', JSON.stringify(refused.body));
    const listed = await call(node.url, 'GET', '/v2/access-keys', { token: admin });
    assert.deepEqual(listed.body.items, []);
  });
  test('a grant never outlives time-bound access: CreateGrant needs its permissions through bindings without an expiry', async () => {
    const temp = await node.app.iam.createServiceAccount(projectId, 'temp-admin', undefined, '');
    const member = `serviceAccount:${temp.email}`;
    await node.app.iam.addBinding(
      `projects/${projectId}`,
      'roles/owner',
      member,
      { title: 'one minute', expiresAtMs: clock.nowMs() + 60_000 },
      initialAdminPrincipal,
    );
    const tempKey = await mint(temp.email);
    const created = await raw(node, ownerKey, 'TrentService.CreateKey', '{}');
    const keyId = (created.body.KeyMetadata as { KeyId: string }).KeyId;
    const encrypted = await raw(
      node,
      ownerKey,
      'TrentService.Encrypt',
      JSON.stringify({ KeyId: keyId, Plaintext: Buffer.from('jewels').toString('base64') }),
    );
    const blob = encrypted.body.CiphertextBlob as string;
    // While the binding lasts the account may decrypt, but not make itself a grant that never expires.
    const decrypted = await raw(
      node,
      tempKey,
      'TrentService.Decrypt',
      JSON.stringify({ CiphertextBlob: blob }),
    );
    assert.equal(decrypted.status, 200, JSON.stringify(decrypted.body));
    const grant = await raw(
      node,
      tempKey,
      'TrentService.CreateGrant',
      JSON.stringify({ KeyId: keyId, GranteePrincipal: member, Operations: ['Decrypt', 'CreateGrant'] }),
    );
    assert.equal(grant.body.__type, 'AccessDeniedException', JSON.stringify(grant.body));
    clock.advance(61_000);
    const after = await raw(node, tempKey, 'TrentService.Decrypt', JSON.stringify({ CiphertextBlob: blob }));
    assert.equal(after.body.__type, 'AccessDeniedException', JSON.stringify(after.body));
    // The same grant by an owner without an expiry is made.
    const lasting = await raw(
      node,
      ownerKey,
      'TrentService.CreateGrant',
      JSON.stringify({ KeyId: keyId, GranteePrincipal: member, Operations: ['Decrypt'] }),
    );
    assert.equal(lasting.status, 200, JSON.stringify(lasting.body));
  });
});
