import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  KMSClient,
  UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { awsKeyRingId, namedUuid } from '../src/kms/kms-key-extras-service.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const account = '123456789012';
const region = 'us-east-1';

/**
 * Alias squatting and re-pointing through the AWS face: nobody, not even an owner, creates or moves an
 * alias under `alias/aws/` (the managed keys' names, which CreateSecret's default key resolves), and
 * an alias is moved only by a caller who may update both the key it names now and the new target
 * (AWS: kms:UpdateAlias on the alias, the current key and the new key).
 */
describe('AWS KMS aliases: reserved names and permissions on both keys', () => {
  let node: TestNode;
  let root: KMSClient;
  let projectId: string;
  const clients: Array<{ destroy(): void }> = [];
  const credentials = (accessKeyId: string, secretAccessKey: string) => ({ accessKeyId, secretAccessKey });
  const kmsClient = (accessKeyId: string, secretAccessKey: string) => {
    const made = new KMSClient({
      endpoint: node.url,
      region,
      credentials: credentials(accessKeyId, secretAccessKey),
      maxAttempts: 1,
    });
    clients.push(made);
    return made;
  };
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: node.adminToken!, ...(body !== undefined ? { body } : {}) });
  const fails = (promise: Promise<unknown>, name: string) =>
    assert.rejects(promise, (err: Error) => {
      assert.equal(err.name, name, err.message);
      return true;
    });
  const newKey = async () => (await root.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  /** A service account with an AWS access key and roles/kms.admin on each of `keys` only. */
  const adminOf = async (name: string, keys: string[]) => {
    const created = await api('POST', `/v2/projects/${projectId}/service-accounts`, { name });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const email = created.body.email as string;
    for (const key of keys) {
      const bound = await api(
        'POST',
        `/v2/projects/${projectId}/regions/${region}/keyrings/${awsKeyRingId}/keys/${key}/iam-policy:add-binding`,
        { role: 'roles/kms.admin', member: `serviceAccount:${email}` },
      );
      assert.equal(bound.status, 200, JSON.stringify(bound.body));
    }
    const access = await api('POST', `/v2/projects/${projectId}/service-accounts/${email}/access-keys`);
    assert.equal(access.status, 201, JSON.stringify(access.body));
    return { access: access.body as { accessKeyId: string; secretAccessKey: string } };
  };
  const target = async (alias: string) =>
    (await root.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata!.KeyId;

  before(async () => {
    node = await startTestNode({ env: { COFFER_AWS_TEST_MODE: 'true', COFFER_AWS_REGIONS: 'auto' } });
    root = kmsClient('testing', 'testing');
    await newKey();
    const projects = await api('GET', '/v2/projects');
    projectId = projects.body.items.find((p: { awsAccountId: string }) => p.awsAccountId === account).id;
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await node?.destroy();
  });

  test('the managed key’s id cannot be taken through the native API before its first use (it would be adopted)', async () => {
    const managedId = namedUuid('coffer', 'aws-managed-key', projectId, region, 'secretsmanager');
    const squat = await api(
      'POST',
      `/v2/projects/${projectId}/regions/${region}/keyrings/${awsKeyRingId}/keys`,
      {
        id: managedId,
        algorithm: 'aes256-gcm96',
      },
    );
    assert.equal(squat.status, 400, JSON.stringify(squat.body));
    assert.equal(squat.body.error.code, 'invalid_argument');
    // The same id in another key ring is an ordinary id (ids are unique per ring only).
    const ring = await api('POST', `/v2/projects/${projectId}/regions/${region}/keyrings`, {
      displayName: 'n',
    });
    const elsewhere = await api(
      'POST',
      `/v2/projects/${projectId}/regions/${region}/keyrings/${ring.body.id}/keys`,
      {
        id: managedId,
        algorithm: 'aes256-gcm96',
      },
    );
    assert.equal(elsewhere.status, 201, JSON.stringify(elsewhere.body));
  });

  test('alias/aws/secretsmanager cannot be taken before its first use, so CreateSecret gets the managed key', async () => {
    const mine = await newKey();
    for (const AliasName of ['alias/aws/secretsmanager', 'alias/aws/kms', 'alias/aws/x/y'])
      await fails(
        root.send(new CreateAliasCommand({ AliasName, TargetKeyId: mine })),
        'NotAuthorizedException',
      );
    const sm = new SecretsManagerClient({
      endpoint: node.url,
      region,
      credentials: credentials('testing', 'testing'),
      maxAttempts: 1,
    });
    clients.push(sm);
    await sm.send(new CreateSecretCommand({ Name: 'default-key', SecretString: 'v' }));
    const managed = (await root.send(new DescribeKeyCommand({ KeyId: 'alias/aws/secretsmanager' })))
      .KeyMetadata!;
    assert.notEqual(managed.KeyId, mine);
    assert.equal(managed.KeyManager, 'AWS');
    assert.equal((await sm.send(new DescribeSecretCommand({ SecretId: 'default-key' }))).KmsKeyId, undefined);
    // Once it exists, it is not re-pointed either.
    await fails(
      root.send(new UpdateAliasCommand({ AliasName: 'alias/aws/secretsmanager', TargetKeyId: mine })),
      'NotAuthorizedException',
    );
    assert.equal(await target('alias/aws/secretsmanager'), managed.KeyId);
  });

  test('UpdateAlias needs kms.keys.update on the new target key and on the key the alias names now', async () => {
    const a = await newKey();
    const b = await newKey();
    await root.send(new CreateAliasCommand({ AliasName: 'alias/app/pointer', TargetKeyId: a }));
    const ofA = await adminOf('alias-admin-a', [a]);
    const ofB = await adminOf('alias-admin-b', [b]);
    const clientA = kmsClient(ofA.access.accessKeyId, ofA.access.secretAccessKey);
    const clientB = kmsClient(ofB.access.accessKeyId, ofB.access.secretAccessKey);
    // Allowed on the current key only: cannot move the alias to a key it has no right on.
    await fails(
      clientA.send(new UpdateAliasCommand({ AliasName: 'alias/app/pointer', TargetKeyId: b })),
      'AccessDeniedException',
    );
    // Allowed on the new target only: cannot capture an alias of a key it has no right on.
    await fails(
      clientB.send(new UpdateAliasCommand({ AliasName: 'alias/app/pointer', TargetKeyId: b })),
      'AccessDeniedException',
    );
    await fails(
      clientA.send(new CreateAliasCommand({ AliasName: 'alias/app/other', TargetKeyId: b })),
      'AccessDeniedException',
    );
    assert.equal(await target('alias/app/pointer'), a);
    const both = await adminOf('alias-admin-ab', [a, b]);
    const clientAB = kmsClient(both.access.accessKeyId, both.access.secretAccessKey);
    await clientAB.send(new UpdateAliasCommand({ AliasName: 'alias/app/pointer', TargetKeyId: b }));
    assert.equal(await target('alias/app/pointer'), b);
  });
});
