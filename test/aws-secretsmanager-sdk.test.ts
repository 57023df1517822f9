import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as sm from '@aws-sdk/client-secrets-manager';
import { call, startTestNode, type TestNode } from './support/test-node.ts';
import { storedAuditEvents } from './support/audit-events.ts';

const enc = encodeURIComponent;

/**
 * The Secrets Manager face through the official AWS SDK for JavaScript v3 against a real listening
 * server (SQLite), signed with access keys made by the native API: every operation, AWS's field
 * types (Dates, Uint8Array blobs), AWS's exception classes, authorization and audit.
 */
describe('AWS Secrets Manager through @aws-sdk/client-secrets-manager', () => {
  let node: TestNode;
  let project: string;
  let account: string;
  let client: sm.SecretsManagerClient;
  let accessorClient: sm.SecretsManagerClient;
  let accessor: string;
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: node.adminToken!, ...(body !== undefined ? { body } : {}) });

  const keyFor = async (name: string, role?: string) => {
    const email = (await api('POST', `/v2/projects/${project}/service-accounts`, { name })).body
      .email as string;
    if (role)
      assert.equal(
        (
          await api('POST', `/v2/projects/${project}/iam-policy:add-binding`, {
            role,
            member: `serviceAccount:${email}`,
          })
        ).status,
        200,
      );
    const key = await api('POST', `/v2/projects/${project}/service-accounts/${enc(email)}/access-keys`, {});
    assert.equal(key.status, 201, JSON.stringify(key.body));
    return {
      email,
      client: new sm.SecretsManagerClient({
        region: 'local',
        endpoint: node.url,
        credentials: { accessKeyId: key.body.accessKeyId, secretAccessKey: key.body.secretAccessKey },
        maxAttempts: 1,
      }),
    };
  };
  const rejects = (promise: Promise<unknown>, name: string, message?: RegExp) =>
    assert.rejects(promise, (err: Error) => {
      assert.equal(err.name, name, err.message);
      if (message) assert.match(err.message, message);
      return true;
    });

  before(async () => {
    node = await startTestNode();
    const created = (await api('POST', '/v2/projects', {})).body;
    project = created.id;
    account = created.awsAccountId;
    client = (await keyFor('sdk-admin', 'roles/owner')).client;
    const other = await keyFor('sdk-accessor');
    accessorClient = other.client;
    accessor = other.email;
  });
  after(async () => {
    client?.destroy();
    accessorClient?.destroy();
    await node?.destroy();
  });

  test('create, get, put, describe, list and version ids with AWS types', async () => {
    const created = await client.send(
      new sm.CreateSecretCommand({
        Name: 'sdk/db',
        SecretString: '{"password":"p1"}',
        Description: 'database',
        Tags: [{ Key: 'env', Value: 'prod' }],
      }),
    );
    assert.match(
      created.ARN!,
      new RegExp(`^arn:aws:secretsmanager:local:${account}:secret:sdk/db-[A-Za-z0-9]{6}$`),
    );
    assert.match(
      created.VersionId!,
      /^[0-9a-f-]{36}$/,
      'the SDK fills in a ClientRequestToken: the VersionId',
    );
    const got = await client.send(new sm.GetSecretValueCommand({ SecretId: created.ARN }));
    assert.equal(got.SecretString, '{"password":"p1"}');
    assert.ok(got.CreatedDate instanceof Date);
    assert.deepEqual(got.VersionStages, ['AWSCURRENT']);
    const put = await client.send(new sm.PutSecretValueCommand({ SecretId: 'sdk/db', SecretString: 'p2' }));
    assert.deepEqual(put.VersionStages, ['AWSCURRENT']);
    const described = await client.send(new sm.DescribeSecretCommand({ SecretId: 'sdk/db' }));
    assert.ok(described.CreatedDate instanceof Date && described.LastChangedDate instanceof Date);
    assert.deepEqual(described.VersionIdsToStages, {
      [put.VersionId!]: ['AWSCURRENT'],
      [created.VersionId!]: ['AWSPREVIOUS'],
    });
    assert.deepEqual(described.Tags, [{ Key: 'env', Value: 'prod' }]);
    const listed = await client.send(
      new sm.ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['sdk/'] }] }),
    );
    assert.deepEqual(
      listed.SecretList!.map((s) => s.Name),
      ['sdk/db'],
    );
    const versions = await client.send(new sm.ListSecretVersionIdsCommand({ SecretId: 'sdk/db' }));
    assert.equal(versions.Versions!.length, 2);
    const bin = await client.send(
      new sm.CreateSecretCommand({ Name: 'sdk/bin', SecretBinary: new Uint8Array([0, 1, 2, 255]) }),
    );
    const binary = await client.send(new sm.GetSecretValueCommand({ SecretId: bin.ARN }));
    assert.deepEqual([...binary.SecretBinary!], [0, 1, 2, 255]);
  });

  test('stages, update, tags, policies, random passwords, rotation, batch reads, delete and restore', async () => {
    const v1 = (await client.send(new sm.CreateSecretCommand({ Name: 'sdk/ops', SecretString: 'a' })))
      .VersionId!;
    const v2 = (
      await client.send(
        new sm.UpdateSecretCommand({ SecretId: 'sdk/ops', SecretString: 'b', Description: 'd' }),
      )
    ).VersionId!;
    await client.send(
      new sm.UpdateSecretVersionStageCommand({
        SecretId: 'sdk/ops',
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: v1,
        RemoveFromVersionId: v2,
      }),
    );
    assert.equal(
      (await client.send(new sm.GetSecretValueCommand({ SecretId: 'sdk/ops' }))).SecretString,
      'a',
    );
    await client.send(new sm.TagResourceCommand({ SecretId: 'sdk/ops', Tags: [{ Key: 'k', Value: 'v' }] }));
    await client.send(new sm.UntagResourceCommand({ SecretId: 'sdk/ops', TagKeys: ['k'] }));
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${account}:root` },
          Action: 'secretsmanager:*',
          Resource: '*',
        },
      ],
    });
    const validated = await client.send(new sm.ValidateResourcePolicyCommand({ ResourcePolicy: policy }));
    assert.equal(validated.PolicyValidationPassed, true);
    await client.send(new sm.PutResourcePolicyCommand({ SecretId: 'sdk/ops', ResourcePolicy: policy }));
    assert.equal(
      (await client.send(new sm.GetResourcePolicyCommand({ SecretId: 'sdk/ops' }))).ResourcePolicy,
      policy,
    );
    await client.send(new sm.DeleteResourcePolicyCommand({ SecretId: 'sdk/ops' }));
    const password = (await client.send(new sm.GetRandomPasswordCommand({}))).RandomPassword!;
    assert.equal(password.length, 32);
    await rejects(
      client.send(
        new sm.RotateSecretCommand({
          SecretId: 'sdk/ops',
          RotationLambdaARN: 'arn:aws:lambda:local:123456789012:function:x',
        }),
      ),
      'AccessDeniedException',
      /cannot invoke the specified Lambda function/,
    );
    await client.send(
      new sm.RotateSecretCommand({
        SecretId: 'sdk/ops',
        RotationRules: { AutomaticallyAfterDays: 30 },
        RotateImmediately: false,
      }),
    );
    assert.equal(
      (await client.send(new sm.DescribeSecretCommand({ SecretId: 'sdk/ops' }))).RotationEnabled,
      true,
    );
    await client.send(new sm.CancelRotateSecretCommand({ SecretId: 'sdk/ops' }));
    const batch = await client.send(
      new sm.BatchGetSecretValueCommand({ SecretIdList: ['sdk/ops', 'sdk/missing'] }),
    );
    assert.deepEqual(
      batch.SecretValues!.map((v) => v.SecretString),
      ['a'],
    );
    assert.deepEqual(
      batch.Errors!.map((e) => e.ErrorCode),
      ['ResourceNotFoundException'],
    );
    const deleted = await client.send(
      new sm.DeleteSecretCommand({ SecretId: 'sdk/ops', RecoveryWindowInDays: 7 }),
    );
    assert.ok(deleted.DeletionDate instanceof Date);
    await rejects(
      client.send(new sm.GetSecretValueCommand({ SecretId: 'sdk/ops' })),
      'InvalidRequestException',
      /marked for deletion/,
    );
    await client.send(new sm.RestoreSecretCommand({ SecretId: 'sdk/ops' }));
    await client.send(new sm.DeleteSecretCommand({ SecretId: 'sdk/ops', ForceDeleteWithoutRecovery: true }));
    await rejects(
      client.send(new sm.DescribeSecretCommand({ SecretId: 'sdk/ops' })),
      'ResourceNotFoundException',
    );
  });

  test('bad input answers AWS exceptions: illegal names, both values, an existing name, a missing secret', async () => {
    await rejects(
      client.send(new sm.CreateSecretCommand({ Name: 'bad name!', SecretString: 'x' })),
      'ValidationException',
    );
    await rejects(
      client.send(
        new sm.CreateSecretCommand({ Name: 'both', SecretString: 'x', SecretBinary: new Uint8Array([1]) }),
      ),
      'InvalidParameterException',
    );
    await client.send(new sm.CreateSecretCommand({ Name: 'sdk/dup', SecretString: 'x' }));
    await rejects(
      client.send(new sm.CreateSecretCommand({ Name: 'sdk/dup', SecretString: 'y' })),
      'ResourceExistsException',
    );
    await rejects(
      client.send(new sm.GetSecretValueCommand({ SecretId: 'sdk/none' })),
      'ResourceNotFoundException',
    );
  });

  test("answers as AWS's: no ReplicationStatus, invalid names, versions oldest first with their key, forced deletion of nothing", async () => {
    const created = await client.send(
      new sm.CreateSecretCommand({ Name: 'conf/v', SecretString: 'a', ClientRequestToken: 't1'.repeat(16) }),
    );
    assert.equal(created.ReplicationStatus, undefined);
    // A SecretId that is not a valid name is refused before any lookup, as a new name is.
    for (const command of [
      new sm.GetSecretValueCommand({ SecretId: 'bad name' }),
      new sm.DescribeSecretCommand({ SecretId: 'a*b' }),
      new sm.DeleteSecretCommand({ SecretId: 'x?y', ForceDeleteWithoutRecovery: true }),
    ])
      await rejects(client.send(command as sm.GetSecretValueCommand), 'ValidationException', /Invalid name/);
    const t2 = 't2'.repeat(16);
    const t3 = 't3'.repeat(16);
    await client.send(
      new sm.PutSecretValueCommand({ SecretId: 'conf/v', SecretString: 'b', ClientRequestToken: t2 }),
    );
    await client.send(
      new sm.PutSecretValueCommand({ SecretId: 'conf/v', SecretString: 'c', ClientRequestToken: t3 }),
    );
    const listed = await client.send(new sm.ListSecretVersionIdsCommand({ SecretId: 'conf/v' }));
    assert.deepEqual(
      listed.Versions!.map((v) => [v.VersionId, v.VersionStages, v.KmsKeyIds]),
      [
        [t2, ['AWSPREVIOUS'], ['DefaultEncryptionKey']],
        [t3, ['AWSCURRENT'], ['DefaultEncryptionKey']],
      ],
    );
    const all = await client.send(
      new sm.ListSecretVersionIdsCommand({ SecretId: 'conf/v', IncludeDeprecated: true }),
    );
    // A deprecated version has no VersionStages member at all.
    assert.deepEqual(all.Versions![0], {
      VersionId: 't1'.repeat(16),
      CreatedDate: all.Versions![0]!.CreatedDate,
      KmsKeyIds: ['DefaultEncryptionKey'],
    });
    // Coffer's own stage names are no label of any version: not found, as any absent label.
    await rejects(
      client.send(new sm.GetSecretValueCommand({ SecretId: 'conf/v', VersionStage: 'current' })),
      'ResourceNotFoundException',
      /staging label: current$/,
    );
    await rejects(
      client.send(
        new sm.GetSecretValueCommand({ SecretId: 'conf/v', VersionId: t2, VersionStage: 'AWSCURRENT' }),
      ),
      'InvalidRequestException',
      /^You provided a VersionStage that is not associated to the provided VersionId\.$/,
    );
    // A forced deletion of a secret that does not exist succeeds, as on AWS; without force it is not found.
    const gone = await client.send(
      new sm.DeleteSecretCommand({ SecretId: 'conf/never', ForceDeleteWithoutRecovery: true }),
    );
    assert.equal(gone.Name, 'conf/never');
    assert.match(gone.ARN!, new RegExp(`:${account}:secret:conf/never-[A-Za-z0-9]{6}$`));
    assert.ok(gone.DeletionDate instanceof Date);
    await rejects(
      client.send(new sm.DeleteSecretCommand({ SecretId: 'conf/never' })),
      'ResourceNotFoundException',
    );
    const batch = await client.send(
      new sm.BatchGetSecretValueCommand({ SecretIdList: ['conf/v', 'conf/never'] }),
    );
    assert.deepEqual(batch.Errors, [
      {
        SecretId: 'conf/never',
        ErrorCode: 'ResourceNotFoundException',
        Message: "Secrets Manager can't find the specified secret.",
      },
    ]);
  });

  test('DescribeSecret and ListSecrets answer only members with a value, as AWS: Tags, RotationEnabled, versions', async () => {
    // An empty value is no value: AWS's model wants 1–65,536 characters.
    await rejects(
      client.send(new sm.CreateSecretCommand({ Name: 'conf/bare', SecretString: '' })),
      'ValidationException',
    );
    await client.send(new sm.CreateSecretCommand({ Name: 'conf/bare', Tags: [] }));
    await rejects(
      client.send(new sm.PutSecretValueCommand({ SecretId: 'conf/bare', SecretString: '' })),
      'ValidationException',
    );
    const bare = await client.send(new sm.DescribeSecretCommand({ SecretId: 'conf/bare' }));
    assert.equal(bare.Tags, undefined);
    assert.equal(bare.RotationEnabled, undefined);
    assert.equal(bare.VersionIdsToStages, undefined);
    const listed = await client.send(
      new sm.ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['conf/bare'] }] }),
    );
    assert.equal(listed.SecretList!.length, 1);
    const entry = listed.SecretList![0]!;
    assert.deepEqual(
      [entry.Tags, entry.RotationEnabled, entry.SecretVersionsToStages],
      [undefined, undefined, undefined],
    );
    // Once tagged, the list stays, empty after the last tag is removed.
    await client.send(new sm.TagResourceCommand({ SecretId: 'conf/bare', Tags: [{ Key: 'k', Value: 'v' }] }));
    await client.send(new sm.UntagResourceCommand({ SecretId: 'conf/bare', TagKeys: ['k'] }));
    assert.deepEqual((await client.send(new sm.DescribeSecretCommand({ SecretId: 'conf/bare' }))).Tags, []);
    await client.send(new sm.PutSecretValueCommand({ SecretId: 'conf/bare', SecretString: 'now' }));
    const valued = await client.send(new sm.DescribeSecretCommand({ SecretId: 'conf/bare' }));
    assert.deepEqual(Object.values(valued.VersionIdsToStages!), [['AWSCURRENT']]);
  });

  test('ListSecrets filters as Secrets Manager matches them: description by words, values OR-ed with negations, Key and Values required', async () => {
    for (const [Name, Description] of [
      ['words/foo', 'one two'],
      ['words/bar', 'one and two'],
      ['words/baz', 'one'],
      ['words/qux', 'two'],
      ['words/none', 'unrelated'],
    ])
      await client.send(new sm.CreateSecretCommand({ Name, Description, SecretString: 'v' }));
    const names = async (Filters: sm.Filter[]) =>
      ((await client.send(new sm.ListSecretsCommand({ Filters }))).SecretList ?? []).map((s) => s.Name);
    const words = { Key: 'name' as const, Values: ['words/'] };
    // Every word of the value begins a word of the description, case aside.
    assert.deepEqual(await names([words, { Key: 'description', Values: ['One TWO'] }]), [
      'words/foo',
      'words/bar',
    ]);
    assert.deepEqual(await names([words, { Key: 'description', Values: ['one', '!two'] }]), [
      'words/foo',
      'words/bar',
      'words/baz',
      'words/none',
    ]);
    assert.deepEqual(await names([words, { Key: 'description', Values: ['!o'] }]), [
      'words/qux',
      'words/none',
    ]);
    await rejects(
      client.send(new sm.ListSecretsCommand({ Filters: [{ Values: ['x'] }] })),
      'InvalidParameterException',
      /^Invalid filter key$/,
    );
    await rejects(
      client.send(new sm.ListSecretsCommand({ Filters: [{ Key: 'description' }] })),
      'InvalidParameterException',
      /^Invalid filter values for key: description$/,
    );
  });

  test('a secretAccessor on one secret reads it and nothing else (AccessDeniedException); reads are audited as natively', async () => {
    await client.send(new sm.CreateSecretCommand({ Name: 'sdk/granted', SecretString: 'yes' }));
    await client.send(new sm.CreateSecretCommand({ Name: 'sdk/other', SecretString: 'no' }));
    const region = `/v2/projects/${project}/regions/local`;
    const aws = (
      (await api('GET', `${region}/instances`)).body.items as Array<{ id: string; name: string }>
    ).find((i) => i.name === 'aws')!;
    assert.equal(
      (
        await api(
          'POST',
          `${region}/instances/${aws.id}/secrets/${enc('sdk/granted')}/iam-policy:add-binding`,
          {
            role: 'roles/secretsmanager.secretAccessor',
            member: `serviceAccount:${accessor}`,
          },
        )
      ).status,
      200,
    );
    const got = await accessorClient.send(new sm.GetSecretValueCommand({ SecretId: 'sdk/granted' }));
    assert.equal(got.SecretString, 'yes');
    for (const command of [
      new sm.GetSecretValueCommand({ SecretId: 'sdk/other' }),
      new sm.GetSecretValueCommand({ SecretId: 'sdk/never-existed' }),
      new sm.DescribeSecretCommand({ SecretId: 'sdk/granted' }),
      new sm.PutSecretValueCommand({ SecretId: 'sdk/granted', SecretString: 'x' }),
      new sm.TagResourceCommand({ SecretId: 'sdk/granted', Tags: [{ Key: 'a', Value: 'b' }] }),
      new sm.ListSecretsCommand({}),
    ])
      await rejects(accessorClient.send(command as sm.GetSecretValueCommand), 'AccessDeniedException');
    const events = await storedAuditEvents(node.app.storage.db, { requestId: got.$metadata.requestId! });
    const read = events.find((e) => e.action === 'secrets.get_value');
    assert.ok(read, JSON.stringify(events));
    assert.equal(read.principal, `serviceAccount:${accessor}`);
    assert.match(String(read.details), /"api":"aws"/);
    assert.match(String(read.details), /"operation":"GetSecretValue"/);
    assert.ok(
      events.some((e) => e.action === 'kms.decrypt'),
      'the managed key is used on behalf of the caller',
    );
    void randomUUID;
  });
});
