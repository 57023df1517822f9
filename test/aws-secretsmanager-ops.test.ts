import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { AwsError, awsErrorOf } from '../src/aws/aws-errors.ts';
import type { AwsCall, AwsOperation } from '../src/aws/aws-operation.ts';
import { secretsManagerOperations } from '../src/aws/secretsmanager/index.ts';
import type { Principal } from '../src/iam/principal.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();

const enc = encodeURIComponent;

/**
 * The Secrets Manager operations of the AWS face, called as the face calls them (a hand-built
 * AwsCall whose authorize() is Coffer IAM's decision), on a real node of each storage engine (the
 * attribute columns, label removal and version-id queries run on both): AWS-shaped answers, AWS's
 * errors, and the same authorization as the native routes.
 */
for (const engine of ['sqlite', 'postgres'] as const)
  describe(
    `AWS Secrets Manager operations (${engine})`,
    { skip: engine === 'postgres' ? (postgresSkip ?? false) : false },
    () => {
      let node: TestNode;
      let database: TestDatabase | undefined;
      let ops: Record<string, AwsOperation>;
      let project: string;
      let account: string;
      let admin: Principal;
      let accessor: Principal;
      let region: string;
      const api = (method: string, path: string, body?: unknown) =>
        call(node.url, method, path, { token: node.adminToken!, ...(body !== undefined ? { body } : {}) });

      const callAs = (
        principal: Principal,
        operation: string,
        projectId = project,
        accountId = account,
      ): AwsCall => {
        const requestId = randomUUID();
        return {
          service: 'secretsmanager',
          operation,
          principal,
          projectId,
          accountId,
          regionId: 'local',
          requestId,
          caller: { principal, requestId, events: [] },
          auditDetails: {},
          async authorize(permission, resource) {
            if (!(await node.app.authorizer.holds(principal, permission, resource)))
              throw new AwsError('AccessDeniedException', `Access denied: ${permission}.`);
          },
        };
      };
      // As the face answers: a CofferError a service throws becomes its AWS error. Answers are read loosely.
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- AWS answers, read like call()'s bodies
      type Answer = Record<string, any>;
      const runBare = (operation: string, input: Record<string, unknown>, principal = admin) =>
        (ops[operation]!.handler(callAs(principal, operation), input) as Promise<Answer>).catch(
          (err: unknown) => {
            throw awsErrorOf(err, 'secretsmanager');
          },
        );
      // As the SDKs send them: a ClientRequestToken on every call that may make a version.
      const withToken = new Set(['CreateSecret', 'PutSecretValue', 'UpdateSecret', 'RotateSecret']);
      const run = (operation: string, input: Record<string, unknown>, principal = admin) =>
        runBare(
          operation,
          withToken.has(operation) && input.ClientRequestToken === undefined
            ? { ...input, ClientRequestToken: randomUUID() }
            : input,
          principal,
        );
      const fails = async (promise: Promise<unknown>, type: string, message?: RegExp) => {
        await assert.rejects(promise, (err: unknown) => {
          assert.ok(err instanceof AwsError, String(err));
          assert.equal(err.type, type, err.message);
          if (message) assert.match(err.message, message);
          return true;
        });
      };

      before(async () => {
        if (engine === 'postgres') database = await createTestDatabase();
        node = await startTestNode(database ? { env: { COFFER_DATABASE_URL: database.url } } : {});
        ops = secretsManagerOperations(node.app);
        const created = (await api('POST', '/v2/projects', {})).body;
        project = created.id;
        account = created.awsAccountId;
        region = `/v2/projects/${project}/regions/local`;
        const sa = async (name: string) => {
          const email = (await api('POST', `/v2/projects/${project}/service-accounts`, { name })).body
            .email as string;
          return `serviceAccount:${email}` as Principal;
        };
        admin = await sa('aws-admin');
        accessor = await sa('aws-accessor');
        const bound = await api('POST', `/v2/projects/${project}/iam-policy:add-binding`, {
          role: 'roles/owner',
          member: admin,
        });
        assert.equal(bound.status, 200, JSON.stringify(bound.body));
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('CreateSecret answers an ARN with a 6-character suffix and the token as VersionId; GetSecretValue by name, ARN and partial ARN', async () => {
        const token = randomUUID();
        const created = await run('CreateSecret', {
          Name: '/prod/db+main@x=y',
          SecretString: 'hunter2',
          ClientRequestToken: token,
          Description: 'the db',
          Tags: [{ Key: 'team', Value: 'core' }],
        });
        assert.match(
          created.ARN,
          new RegExp(`^arn:aws:secretsmanager:local:${account}:secret:/prod/db\\+main@x=y-[A-Za-z0-9]{6}$`),
        );
        assert.equal(created.Name, '/prod/db+main@x=y');
        assert.equal(created.VersionId, token);
        for (const id of [created.Name, created.ARN, created.ARN.slice(0, -7)]) {
          const got = await run('GetSecretValue', { SecretId: id });
          assert.equal(got.SecretString, 'hunter2');
          assert.equal(got.VersionId, token);
          assert.deepEqual(got.VersionStages, ['AWSCURRENT']);
          assert.equal(got.ARN, created.ARN);
          assert.equal(typeof got.CreatedDate, 'number');
        }
        // Another account's or region's ARN, or a wrong suffix, names nothing here.
        for (const id of [
          created.ARN.replace(`:${account}:`, ':000000000000:'),
          created.ARN.replace(':local:', ':us-east-1:'),
          `${created.ARN.slice(0, -6)}ZZZZZZ`,
        ])
          await fails(run('GetSecretValue', { SecretId: id }), 'ResourceNotFoundException');
        const described = await run('DescribeSecret', { SecretId: created.ARN });
        assert.equal(described.Description, 'the db');
        assert.deepEqual(described.Tags, [{ Key: 'team', Value: 'core' }]);
        assert.deepEqual(described.VersionIdsToStages, { [token]: ['AWSCURRENT'] });
        assert.equal(described.KmsKeyId, undefined, 'the AWS-managed key is not shown, as AWS omits it');
        assert.equal(described.RotationEnabled, undefined, 'never configured for rotation: left out, as AWS');
        // The secret lives in the region's `aws` instance, under alias/aws/secretsmanager's key.
        const instances = (await api('GET', `${region}/instances`)).body.items as Array<{
          id: string;
          name: string;
        }>;
        const aws = instances.find((i) => i.name === 'aws')!;
        const native = (await api('GET', `${region}/instances/${aws.id}/secrets/${enc('/prod/db+main@x=y')}`))
          .body;
        const managed = await node.app.kmsAliases.find(
          { projectId: project, regionId: 'local' },
          'alias/aws/secretsmanager',
        );
        const managedKey = await node.app.kms.findKeyByUid(managed!.keyUid);
        assert.ok(native.kmsKey.identity.endsWith(`/keys/${managedKey!.id}`));
      });

      test('bad input: illegal names, both or neither value, binary that is not base64, existing names', async () => {
        for (const Name of ['sp ace', 'a:b', 'ü', '.', '..', 'x'.repeat(513)])
          await fails(
            run('CreateSecret', { Name, SecretString: 'v' }),
            'ValidationException',
            /Invalid name/,
          );
        await fails(
          run('CreateSecret', { Name: 'both', SecretString: 'v', SecretBinary: 'dg==' }),
          'InvalidParameterException',
          /both a binary secret value and a string/,
        );
        await fails(run('CreateSecret', { Name: 'nb', SecretBinary: '***' }), 'InvalidParameterException');
        await run('CreateSecret', { Name: 'empty' });
        await fails(
          run('PutSecretValue', { SecretId: 'empty', SecretString: 'x', VersionStages: ['current'] }),
          'InvalidParameterException',
          /reserved/,
        );
        await fails(
          run('PutSecretValue', { SecretId: 'empty' }),
          'InvalidRequestException',
          /^You must provide either SecretString or SecretBinary\.$/,
        );
        // Refused before the secret is looked up.
        await fails(run('PutSecretValue', { SecretId: 'no-such-secret' }), 'InvalidRequestException');
        await fails(run('GetSecretValue', { SecretId: 'empty' }), 'ResourceNotFoundException', /AWSCURRENT/);
        await fails(run('CreateSecret', { Name: 'empty', SecretString: 'x' }), 'ResourceExistsException');
        // A first version is AWSCURRENT even when the put names other labels.
        const first = await run('PutSecretValue', {
          SecretId: 'empty',
          SecretString: 'x',
          VersionStages: ['blue'],
        });
        assert.deepEqual(first.VersionStages, ['AWSCURRENT', 'blue']);
        await run('UpdateSecretVersionStage', {
          SecretId: 'empty',
          VersionStage: 'blue',
          RemoveFromVersionId: first.VersionId,
        });
        const bin = await run('CreateSecret', {
          Name: 'bin',
          SecretBinary: Buffer.from([0, 1, 255]).toString('base64'),
        });
        const got = await run('GetSecretValue', { SecretId: bin.ARN });
        assert.equal(got.SecretBinary, 'AAH/');
        assert.equal(got.SecretString, undefined);
      });

      test('a call that may make a version without ClientRequestToken is refused before any lookup, as AWS', async () => {
        const refusal = /^You must provide a ClientRequestToken value\. We recommend a UUID-type value\.$/;
        await fails(
          runBare('CreateSecret', { Name: 'tokenless', SecretString: 'v' }),
          'InvalidRequestException',
          refusal,
        );
        await fails(
          runBare('PutSecretValue', { SecretId: 'tokenless', SecretString: 'v' }),
          'InvalidRequestException',
          refusal,
        );
        await fails(
          runBare('UpdateSecret', { SecretId: 'tokenless', SecretString: 'v' }),
          'InvalidRequestException',
          refusal,
        );
        await fails(runBare('RotateSecret', { SecretId: 'tokenless' }), 'InvalidParameterException', refusal);
        // Without a value, CreateSecret and UpdateSecret need none.
        await runBare('CreateSecret', { Name: 'tokenless' });
        await runBare('UpdateSecret', { SecretId: 'tokenless', Description: 'd' });
      });

      test('idempotency: the same token and value answer the same version; another value is ResourceExistsException', async () => {
        const t1 = randomUUID();
        const first = await run('CreateSecret', { Name: 'idem', SecretString: 'a', ClientRequestToken: t1 });
        assert.deepEqual(
          await run('CreateSecret', { Name: 'idem', SecretString: 'a', ClientRequestToken: t1 }),
          first,
        );
        await fails(
          run('CreateSecret', { Name: 'idem', SecretString: 'b', ClientRequestToken: t1 }),
          'ResourceExistsException',
        );
        const t2 = randomUUID();
        const put = await run('PutSecretValue', {
          SecretId: 'idem',
          SecretString: 'b',
          ClientRequestToken: t2,
        });
        assert.equal(put.VersionId, t2);
        assert.deepEqual(put.VersionStages, ['AWSCURRENT']);
        const again = await run('PutSecretValue', {
          SecretId: 'idem',
          SecretString: 'b',
          ClientRequestToken: t2,
        });
        assert.deepEqual(again, put);
        await fails(
          run('PutSecretValue', { SecretId: 'idem', SecretString: 'c', ClientRequestToken: t2 }),
          'ResourceExistsException',
          new RegExp(
            `^You can't use ClientRequestToken ${t2} because that value is already in use for a version of secret ${first.ARN}\\.$`,
          ),
        );
        // A put of the create's token and value is a no-op too.
        assert.equal(
          (await run('PutSecretValue', { SecretId: 'idem', SecretString: 'a', ClientRequestToken: t1 }))
            .VersionId,
          t1,
        );
        const versions = await run('ListSecretVersionIds', { SecretId: 'idem' });
        assert.deepEqual(
          versions.Versions.map((v: { VersionId: string; VersionStages: string[] }) => [
            v.VersionId,
            v.VersionStages,
          ]),
          [
            [t1, ['AWSPREVIOUS']],
            [t2, ['AWSCURRENT']],
          ],
        );
      });

      test('stages: a put moves AWSCURRENT and AWSPREVIOUS; UpdateSecretVersionStage moves them back and custom labels come and go', async () => {
        const [v1, v2, v3] = [randomUUID(), randomUUID(), randomUUID()];
        await run('CreateSecret', { Name: 'stages', SecretString: 'one', ClientRequestToken: v1 });
        await run('PutSecretValue', { SecretId: 'stages', SecretString: 'two', ClientRequestToken: v2 });
        await run('PutSecretValue', {
          SecretId: 'stages',
          SecretString: 'three',
          ClientRequestToken: v3,
          VersionStages: ['AWSPENDING'],
        });
        const stagesNow = async () =>
          (await run('DescribeSecret', { SecretId: 'stages' })).VersionIdsToStages;
        assert.deepEqual(await stagesNow(), {
          [v2]: ['AWSCURRENT'],
          [v1]: ['AWSPREVIOUS'],
          [v3]: ['AWSPENDING'],
        });
        assert.equal(
          (await run('GetSecretValue', { SecretId: 'stages', VersionStage: 'AWSPENDING' })).SecretString,
          'three',
        );
        assert.equal(
          (await run('GetSecretValue', { SecretId: 'stages', VersionId: v1 })).SecretString,
          'one',
        );
        await fails(
          run('GetSecretValue', { SecretId: 'stages', VersionId: v1, VersionStage: 'AWSCURRENT' }),
          'InvalidRequestException',
        );
        // Moving AWSCURRENT needs the version it is on; AWSPREVIOUS follows it.
        await fails(
          run('UpdateSecretVersionStage', {
            SecretId: 'stages',
            VersionStage: 'AWSCURRENT',
            MoveToVersionId: v3,
          }),
          'InvalidParameterException',
        );
        await run('UpdateSecretVersionStage', {
          SecretId: 'stages',
          VersionStage: 'AWSCURRENT',
          MoveToVersionId: v3,
          RemoveFromVersionId: v2,
        });
        assert.deepEqual(await stagesNow(), { [v3]: ['AWSCURRENT', 'AWSPENDING'], [v2]: ['AWSPREVIOUS'] });
        assert.equal((await run('GetSecretValue', { SecretId: 'stages' })).SecretString, 'three');
        await run('UpdateSecretVersionStage', {
          SecretId: 'stages',
          VersionStage: 'blue',
          MoveToVersionId: v1,
        });
        await run('UpdateSecretVersionStage', {
          SecretId: 'stages',
          VersionStage: 'AWSPENDING',
          RemoveFromVersionId: v3,
        });
        assert.deepEqual(await stagesNow(), { [v3]: ['AWSCURRENT'], [v2]: ['AWSPREVIOUS'], [v1]: ['blue'] });
        await fails(
          run('UpdateSecretVersionStage', {
            SecretId: 'stages',
            VersionStage: 'AWSCURRENT',
            RemoveFromVersionId: v3,
          }),
          'InvalidParameterException',
        );
        const all = await run('ListSecretVersionIds', {
          SecretId: 'stages',
          IncludeDeprecated: true,
          MaxResults: 2,
        });
        assert.equal(all.Versions.length, 2);
        const rest = await run('ListSecretVersionIds', {
          SecretId: 'stages',
          IncludeDeprecated: true,
          NextToken: all.NextToken,
        });
        assert.equal(rest.Versions.length, 1);
      });

      test('DeleteSecret with a recovery window, then values refused and metadata shown; RestoreSecret; ForceDeleteWithoutRecovery', async () => {
        await run('CreateSecret', { Name: 'del', SecretString: 'x' });
        await fails(
          run('DeleteSecret', { SecretId: 'del', RecoveryWindowInDays: 6 }),
          'InvalidParameterException',
        );
        await fails(
          run('DeleteSecret', { SecretId: 'del', RecoveryWindowInDays: 7, ForceDeleteWithoutRecovery: true }),
          'InvalidParameterException',
        );
        const before = Date.now() / 1000;
        const deleted = await run('DeleteSecret', { SecretId: 'del' });
        assert.ok(Math.abs(deleted.DeletionDate - (before + 30 * 86_400)) < 60);
        await fails(
          run('GetSecretValue', { SecretId: 'del' }),
          'InvalidRequestException',
          /marked for deletion/,
        );
        await fails(
          run('PutSecretValue', { SecretId: 'del', SecretString: 'y' }),
          'InvalidRequestException',
          /marked for deletion/,
        );
        await fails(
          run('DeleteSecret', { SecretId: 'del' }),
          'InvalidRequestException',
          /marked for deletion/,
        );
        await fails(
          run('CreateSecret', { Name: 'del', SecretString: 'z' }),
          'InvalidRequestException',
          /scheduled for deletion/,
        );
        const described = await run('DescribeSecret', { SecretId: 'del' });
        assert.ok(Math.abs(described.DeletedDate - before) < 60);
        const listed = async (include: boolean) =>
          (
            await run('ListSecrets', {
              IncludePlannedDeletion: include,
              Filters: [{ Key: 'name', Values: ['del'] }],
            })
          ).SecretList.length;
        assert.equal(await listed(false), 0);
        assert.equal(await listed(true), 1);
        await run('RestoreSecret', { SecretId: 'del' });
        assert.equal((await run('GetSecretValue', { SecretId: 'del' })).SecretString, 'x');
        assert.equal((await run('DescribeSecret', { SecretId: 'del' })).DeletedDate, undefined);
        const forced = await run('DeleteSecret', { SecretId: 'del', ForceDeleteWithoutRecovery: true });
        assert.ok(Math.abs(forced.DeletionDate - Date.now() / 1000) < 60);
        await fails(run('DescribeSecret', { SecretId: 'del' }), 'ResourceNotFoundException');
      });

      test('the KMS key is fixed at creation; a disabled key refuses values (Decryption/EncryptionFailure) while metadata works', async () => {
        const ring = (await api('POST', `${region}/keyrings`, { displayName: 'sm' })).body.id as string;
        const keyA = (await api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96' }))
          .body.id as string;
        const keyB = (await api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96' }))
          .body.id as string;
        const created = await run('CreateSecret', { Name: 'cmk', SecretString: 'under A', KmsKeyId: keyA });
        const arnA = `arn:aws:kms:local:${account}:key/${keyA}`;
        assert.equal((await run('DescribeSecret', { SecretId: created.ARN })).KmsKeyId, arnA);
        await run('UpdateSecret', { SecretId: 'cmk', KmsKeyId: arnA, Description: 'same key is fine' });
        await fails(
          run('UpdateSecret', { SecretId: 'cmk', KmsKeyId: 'alias/aws/secretsmanager' }),
          'InvalidRequestException',
          /fixed/,
        );
        const managed = await run('CreateSecret', {
          Name: 'managed-by-alias',
          SecretString: 'm',
          KmsKeyId: `arn:aws:kms:local:${account}:alias/aws/secretsmanager`,
        });
        assert.equal((await run('DescribeSecret', { SecretId: managed.ARN })).KmsKeyId, undefined);
        await fails(
          run('UpdateSecret', { SecretId: 'cmk', KmsKeyId: keyB }),
          'InvalidRequestException',
          /fixed when it is created/,
        );
        await fails(
          run('CreateSecret', { Name: 'nokey', SecretString: 'x', KmsKeyId: randomUUID() }),
          'InvalidParameterException',
          /names no KMS key/,
        );
        const updated = await run('UpdateSecret', {
          SecretId: 'cmk',
          SecretString: 'v2',
          ClientRequestToken: randomUUID(),
        });
        assert.ok(updated.VersionId);
        assert.equal((await run('GetSecretValue', { SecretId: 'cmk' })).SecretString, 'v2');
        assert.equal(
          (await api('POST', `${region}/keyrings/${ring}/keys/${keyA}/disable?force=true`)).status,
          200,
        );
        await fails(run('GetSecretValue', { SecretId: 'cmk' }), 'DecryptionFailure', /KMS key/);
        await fails(
          run('PutSecretValue', { SecretId: 'cmk', SecretString: 'v3' }),
          'EncryptionFailure',
          /KMS key/,
        );
        assert.equal((await run('DescribeSecret', { SecretId: 'cmk' })).Description, 'same key is fine');
        assert.ok(
          (await run('ListSecrets', { Filters: [{ Key: 'name', Values: ['cmk'] }] })).SecretList.length === 1,
        );
        assert.equal((await api('POST', `${region}/keyrings/${ring}/keys/${keyA}/enable`)).status, 200);
        assert.equal((await run('GetSecretValue', { SecretId: 'cmk' })).SecretString, 'v2');
      });

      test('tags, ListSecrets filters (with ! negation), sort order and paging', async () => {
        for (const [Name, team] of [
          ['list/alpha', 'red'],
          ['list/beta', 'blue'],
          ['list/gamma', 'red'],
        ] as const)
          await run('CreateSecret', {
            Name,
            SecretString: 'v',
            Description: `The ${Name} Credentials`,
            Tags: [{ Key: 'team', Value: team }],
          });
        await run('TagResource', {
          SecretId: 'list/beta',
          Tags: [
            { Key: 'env', Value: 'prod' },
            { Key: 'team', Value: 'green' },
          ],
        });
        await run('UntagResource', { SecretId: 'list/gamma', TagKeys: ['team', 'absent'] });
        assert.deepEqual((await run('DescribeSecret', { SecretId: 'list/beta' })).Tags, [
          { Key: 'team', Value: 'green' },
          { Key: 'env', Value: 'prod' },
        ]);
        const names = async (input: Record<string, unknown>) =>
          (await run('ListSecrets', input)).SecretList.map((s: { Name: string }) => s.Name);
        const prefix = { Key: 'name', Values: ['list/'] };
        assert.deepEqual(await names({ Filters: [prefix] }), ['list/alpha', 'list/beta', 'list/gamma']);
        assert.deepEqual(await names({ Filters: [prefix], SortOrder: 'desc' }), [
          'list/gamma',
          'list/beta',
          'list/alpha',
        ]);
        assert.deepEqual(await names({ Filters: [prefix, { Key: 'tag-value', Values: ['red'] }] }), [
          'list/alpha',
        ]);
        // A negated value matches a secret with a tag key that does not begin with it (beta's env);
        // a secret without tags (gamma) matches no tag filter, as on AWS (and moto).
        assert.deepEqual(await names({ Filters: [prefix, { Key: 'tag-key', Values: ['!team'] }] }), [
          'list/beta',
        ]);
        assert.deepEqual(
          await names({ Filters: [{ Key: 'description', Values: ['credentials'] }, prefix] }),
          ['list/alpha', 'list/beta', 'list/gamma'],
        );
        assert.deepEqual(await names({ Filters: [{ Key: 'all', Values: ['gamma'] }] }), ['list/gamma']);
        assert.deepEqual(await names({ Filters: [prefix], SortBy: 'name', SortOrder: 'desc' }), [
          'list/gamma',
          'list/beta',
          'list/alpha',
        ]);
        // gamma was untagged last: the last changed.
        assert.deepEqual(
          (await names({ Filters: [prefix], SortBy: 'last-changed-date', SortOrder: 'desc' }))[0],
          'list/gamma',
        );
        const byName = await run('ListSecrets', { Filters: [prefix], SortBy: 'name', MaxResults: 1 });
        const nextByName = await run('ListSecrets', {
          Filters: [prefix],
          SortBy: 'name',
          MaxResults: 1,
          NextToken: byName.NextToken,
        });
        assert.equal(nextByName.SecretList[0].Name, 'list/beta');
        const page1 = await run('ListSecrets', { Filters: [prefix], MaxResults: 2 });
        assert.equal(page1.SecretList.length, 2);
        assert.ok(page1.SecretList[0].SecretVersionsToStages);
        const page2 = await run('ListSecrets', {
          Filters: [prefix],
          MaxResults: 2,
          NextToken: page1.NextToken,
        });
        assert.deepEqual(
          page2.SecretList.map((s: { Name: string }) => s.Name),
          ['list/gamma'],
        );
        assert.equal(page2.NextToken, undefined);
        await fails(run('ListSecrets', { NextToken: 'garbage' }), 'InvalidNextTokenException');
        await fails(
          run('TagResource', { SecretId: 'list/beta', Tags: [{ Key: 'aws:x', Value: 'y' }] }),
          'InvalidParameterException',
        );
      });

      test('resource policies are validated and stored (BlockPublicPolicy refuses "*"); ValidateResourcePolicy reports findings', async () => {
        await run('CreateSecret', { Name: 'pol', SecretString: 'v' });
        const policy = JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${account}:root` },
              Action: 'secretsmanager:GetSecretValue',
              Resource: '*',
            },
          ],
        });
        const open = JSON.stringify({
          Version: '2012-10-17',
          Statement: { Effect: 'Allow', Principal: '*', Action: 'secretsmanager:*', Resource: '*' },
        });
        assert.equal((await run('GetResourcePolicy', { SecretId: 'pol' })).ResourcePolicy, undefined);
        await run('PutResourcePolicy', { SecretId: 'pol', ResourcePolicy: policy });
        assert.equal((await run('GetResourcePolicy', { SecretId: 'pol' })).ResourcePolicy, policy);
        await fails(
          run('PutResourcePolicy', { SecretId: 'pol', ResourcePolicy: open }),
          'PublicPolicyException',
        );
        await run('PutResourcePolicy', { SecretId: 'pol', ResourcePolicy: open, BlockPublicPolicy: false });
        await fails(
          run('PutResourcePolicy', { SecretId: 'pol', ResourcePolicy: '{"Statement": 3' }),
          'MalformedPolicyDocumentException',
        );
        await fails(
          run('PutResourcePolicy', {
            SecretId: 'pol',
            ResourcePolicy: '{"Statement":[{"Effect":"Maybe","Action":"x:y","Principal":"*"}]}',
          }),
          'MalformedPolicyDocumentException',
          /Effect/,
        );
        await run('DeleteResourcePolicy', { SecretId: 'pol' });
        assert.equal((await run('GetResourcePolicy', { SecretId: 'pol' })).ResourcePolicy, undefined);
        assert.deepEqual(await run('ValidateResourcePolicy', { ResourcePolicy: policy }), {
          PolicyValidationPassed: true,
          ValidationErrors: [],
        });
        for (const malformed of [
          'some policy',
          '{"Version":"2012-10-17"}',
          '{"Statement":[{"Action":"secretsmanager:*","Resource":"*","Principal":"*"}]}',
          '{"Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Principal":"*","Unknown":"*"}]}',
        ])
          await fails(
            run('ValidateResourcePolicy', { ResourcePolicy: malformed }),
            'MalformedPolicyDocumentException',
            /^The resource policy has syntax errors\.$/,
          );
        const broad = await run('ValidateResourcePolicy', { SecretId: 'pol', ResourcePolicy: open });
        assert.equal(broad.PolicyValidationPassed, false);
        assert.equal(broad.ValidationErrors[0].CheckName, 'BROAD_ACCESS_CHECK');
      });

      test('GetRandomPassword follows AWS defaults (32 characters, every type) and its exclusions', async () => {
        const { RandomPassword: p } = await run('GetRandomPassword', {});
        assert.equal(p.length, 32);
        for (const set of [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/]) assert.match(p, set);
        assert.doesNotMatch(p, / /);
        const digitsOnly = await run('GetRandomPassword', {
          PasswordLength: 64,
          ExcludeLowercase: true,
          ExcludeUppercase: true,
          ExcludePunctuation: true,
          ExcludeCharacters: '01',
        });
        assert.match(digitsOnly.RandomPassword, /^[2-9]{64}$/);
        const spaced = await run('GetRandomPassword', { PasswordLength: 4096, IncludeSpace: true });
        assert.match(spaced.RandomPassword, / /);
        // A space is allowed, not one of the types RequireEachIncludedType asks for (AWS: a lower and
        // an upper case letter, a number, a punctuation mark): four characters are enough.
        const four = (await run('GetRandomPassword', { PasswordLength: 4, IncludeSpace: true }))
          .RandomPassword;
        assert.equal(four.length, 4);
        for (const set of [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9 ]/]) assert.match(four, set);
        await fails(
          run('GetRandomPassword', {
            ExcludeLowercase: true,
            ExcludeUppercase: true,
            ExcludePunctuation: true,
            ExcludeCharacters: '0123456789',
          }),
          'InvalidParameterException',
        );
      });

      test('RotateSecret runs Coffer rotators, refuses Lambda and secrets without a rotator; RotationRules set the schedule; CancelRotateSecret stops it', async () => {
        await run('CreateSecret', { Name: 'rot', SecretString: 'v0' });
        await fails(
          run('RotateSecret', {
            SecretId: 'rot',
            RotationLambdaARN: 'arn:aws:lambda:local:123456789012:function:f',
            RotationRules: { AutomaticallyAfterDays: 1 },
          }),
          'AccessDeniedException',
          /^Secrets Manager cannot invoke the specified Lambda function\./,
        );
        // As on AWS for a function it cannot invoke: nothing changed.
        assert.equal((await run('DescribeSecret', { SecretId: 'rot' })).RotationEnabled, undefined);
        await fails(run('RotateSecret', { SecretId: 'rot' }), 'InvalidRequestException', /no rotator/);
        await run('RotateSecret', {
          SecretId: 'rot',
          RotationRules: { AutomaticallyAfterDays: 7 },
          RotateImmediately: false,
        });
        let described = await run('DescribeSecret', { SecretId: 'rot' });
        assert.equal(described.RotationEnabled, true);
        assert.deepEqual(described.RotationRules, { AutomaticallyAfterDays: 7 });
        assert.ok(described.NextRotationDate > Date.now() / 1000);
        await fails(
          run('RotateSecret', {
            SecretId: 'rot',
            RotationRules: { ScheduleExpression: 'cron(0 12 * * ? *)' },
          }),
          'InvalidParameterException',
          /rate/,
        );
        // A rotator configured natively is what RotateSecret runs.
        const instances = (await api('GET', `${region}/instances`)).body.items as Array<{
          id: string;
          name: string;
        }>;
        const aws = instances.find((i) => i.name === 'aws')!;
        const patched = await api('PATCH', `${region}/instances/${aws.id}/secrets/rot`, {
          rotation: { period: '604800s', rotator: { type: 'random', length: 40 } },
        });
        assert.equal(patched.status, 200, JSON.stringify(patched.body));
        const rotated = await run('RotateSecret', { SecretId: 'rot' });
        const got = await run('GetSecretValue', { SecretId: 'rot' });
        assert.equal(got.VersionId, rotated.VersionId);
        assert.equal(got.SecretString.length, 40);
        await run('CancelRotateSecret', { SecretId: 'rot' });
        described = await run('DescribeSecret', { SecretId: 'rot' });
        assert.equal(described.RotationEnabled, false);
      });

      test('authorization: a secretAccessor on one secret reads that value and nothing else, and learns nothing of other names', async () => {
        await run('CreateSecret', { Name: 'shared', SecretString: 'for the accessor' });
        await run('CreateSecret', { Name: 'private', SecretString: 'not for the accessor' });
        const instances = (await api('GET', `${region}/instances`)).body.items as Array<{
          id: string;
          name: string;
        }>;
        const aws = instances.find((i) => i.name === 'aws')!;
        const bound = await api(
          'POST',
          `${region}/instances/${aws.id}/secrets/shared/iam-policy:add-binding`,
          {
            role: 'roles/secretsmanager.secretAccessor',
            member: accessor,
          },
        );
        assert.equal(bound.status, 200, JSON.stringify(bound.body));
        assert.equal(
          (await run('GetSecretValue', { SecretId: 'shared' }, accessor)).SecretString,
          'for the accessor',
        );
        for (const [operation, input] of [
          ['GetSecretValue', { SecretId: 'private' }],
          ['GetSecretValue', { SecretId: 'does-not-exist' }],
          ['DescribeSecret', { SecretId: 'shared' }],
          ['PutSecretValue', { SecretId: 'shared', SecretString: 'x' }],
          ['UpdateSecret', { SecretId: 'shared', Description: 'x' }],
          ['TagResource', { SecretId: 'shared', Tags: [{ Key: 'k', Value: 'v' }] }],
          ['UntagResource', { SecretId: 'shared', TagKeys: ['k'] }],
          ['PutResourcePolicy', { SecretId: 'shared', ResourcePolicy: '{}' }],
          ['DeleteResourcePolicy', { SecretId: 'shared' }],
          ['GetResourcePolicy', { SecretId: 'shared' }],
          ['DeleteSecret', { SecretId: 'shared' }],
          [
            'UpdateSecretVersionStage',
            { SecretId: 'shared', VersionStage: 'x', MoveToVersionId: randomUUID() },
          ],
          ['ListSecrets', {}],
          ['ListSecretVersionIds', { SecretId: 'shared' }],
          ['CreateSecret', { Name: 'new', SecretString: 'x' }],
          ['RotateSecret', { SecretId: 'shared' }],
        ] as const)
          await fails(run(operation, input, accessor), 'AccessDeniedException', new RegExp(''));
        const batch = await run(
          'BatchGetSecretValue',
          { SecretIdList: ['shared', 'private', 'does-not-exist'] },
          accessor,
        );
        assert.deepEqual(
          batch.SecretValues.map((v: { Name: string }) => v.Name),
          ['shared'],
        );
        assert.deepEqual(
          batch.Errors.map((e: { SecretId: string; ErrorCode: string }) => [e.SecretId, e.ErrorCode]),
          [
            ['private', 'AccessDeniedException'],
            ['does-not-exist', 'AccessDeniedException'],
          ],
        );
        // Another project's access key never reaches this project's secrets, not even by ARN.
        const other = (await api('POST', '/v2/projects', {})).body;
        const arn = (await run('DescribeSecret', { SecretId: 'shared' })).ARN as string;
        const foreign = callAs(admin, 'GetSecretValue', other.id, other.awsAccountId);
        await fails(ops.GetSecretValue!.handler(foreign, { SecretId: arn }), 'AccessDeniedException');
      });

      test('BatchGetSecretValue by list and by filter answers AWSCURRENT values with per-secret errors', async () => {
        await run('CreateSecret', { Name: 'batch/a', SecretString: 'A' });
        await run('CreateSecret', { Name: 'batch/b', SecretString: 'B' });
        const arnB = (await run('DescribeSecret', { SecretId: 'batch/b' })).ARN as string;
        const byList = await run('BatchGetSecretValue', { SecretIdList: ['batch/a', arnB, 'batch/none'] });
        assert.deepEqual(
          byList.SecretValues.map((v: { SecretString: string }) => v.SecretString),
          ['A', 'B'],
        );
        assert.deepEqual(
          byList.Errors.map((e: { SecretId: string; ErrorCode: string }) => [e.SecretId, e.ErrorCode]),
          [['batch/none', 'ResourceNotFoundException']],
        );
        const byFilter = await run('BatchGetSecretValue', {
          Filters: [{ Key: 'name', Values: ['batch/'] }],
          MaxResults: 1,
        });
        assert.deepEqual(
          byFilter.SecretValues.map((v: { Name: string }) => v.Name),
          ['batch/a'],
        );
        assert.ok(byFilter.NextToken);
        await fails(run('BatchGetSecretValue', {}), 'InvalidParameterException');
      });

      test('review: another project never reaches these secrets (by ARN or name), nor does a name reach a native instance', async () => {
        await run('CreateSecret', { Name: 'mine', SecretString: 'project one' });
        const arn = (await run('DescribeSecret', { SecretId: 'mine' })).ARN as string;
        const other = (await api('POST', '/v2/projects', {})).body;
        const owner = await api('POST', `/v2/projects/${other.id}/iam-policy:add-binding`, {
          role: 'roles/owner',
          member: admin,
        });
        assert.equal(owner.status, 200);
        const asOther = (operation: string, input: Record<string, unknown>) =>
          ops[operation]!.handler(callAs(admin, operation, other.id, other.awsAccountId), input);
        for (const SecretId of [arn, 'mine', arn.replace(`:${account}:`, `:${other.awsAccountId}:`)]) {
          await fails(asOther('GetSecretValue', { SecretId }), 'ResourceNotFoundException');
          await fails(asOther('DescribeSecret', { SecretId }), 'ResourceNotFoundException');
        }
        // A secret of another instance of the same project is not the AWS face's, whatever its name.
        const native = (await api('POST', `${region}/instances`, { name: 'native' })).body.id as string;
        assert.equal(
          (await api('POST', `${region}/instances/${native}/secrets`, { path: 'native-only', value: 'n' }))
            .status,
          201,
        );
        await fails(run('GetSecretValue', { SecretId: 'native-only' }), 'ResourceNotFoundException');
        assert.equal(
          (await run('ListSecrets', { Filters: [{ Key: 'name', Values: ['native-only'] }] })).SecretList
            .length,
          0,
        );
      });

      test('review: read permissions never write tags, policies or stages; another key is named only to who may use it', async () => {
        const viewer = (await api('POST', `/v2/projects/${project}/service-accounts`, { name: 'aws-viewer' }))
          .body.email as string;
        const member = `serviceAccount:${viewer}` as Principal;
        await run('CreateSecret', { Name: 'watched', SecretString: 'v' });
        const instances = (await api('GET', `${region}/instances`)).body.items as Array<{
          id: string;
          name: string;
        }>;
        const aws = instances.find((i) => i.name === 'aws')!;
        for (const role of ['roles/secretsmanager.viewer', 'roles/secretsmanager.reader'])
          assert.equal(
            (
              await api('POST', `${region}/instances/${aws.id}/secrets/watched/iam-policy:add-binding`, {
                role,
                member,
              })
            ).status,
            200,
          );
        assert.equal((await run('DescribeSecret', { SecretId: 'watched' }, member)).Name, 'watched');
        assert.equal((await run('GetSecretValue', { SecretId: 'watched' }, member)).SecretString, 'v');
        const current = (await run('GetSecretValue', { SecretId: 'watched' })).VersionId as string;
        for (const [operation, input] of [
          ['TagResource', { SecretId: 'watched', Tags: [{ Key: 'k', Value: 'v' }] }],
          ['UntagResource', { SecretId: 'watched', TagKeys: ['k'] }],
          ['PutResourcePolicy', { SecretId: 'watched', ResourcePolicy: '{}' }],
          ['DeleteResourcePolicy', { SecretId: 'watched' }],
          ['UpdateSecretVersionStage', { SecretId: 'watched', VersionStage: 'x', MoveToVersionId: current }],
          ['UpdateSecret', { SecretId: 'watched', Description: 'changed' }],
          ['PutSecretValue', { SecretId: 'watched', SecretString: 'w' }],
          ['RestoreSecret', { SecretId: 'watched' }],
          ['CancelRotateSecret', { SecretId: 'watched' }],
        ] as const)
          await fails(run(operation, input, member), 'AccessDeniedException');
        // An admin of the secret without KMS rights learns nothing about other keys from UpdateSecret.
        const sa = (await api('POST', `/v2/projects/${project}/service-accounts`, { name: 'aws-sm-admin' }))
          .body.email as string;
        const smAdmin = `serviceAccount:${sa}` as Principal;
        assert.equal(
          (
            await api('POST', `${region}/instances/${aws.id}/iam-policy:add-binding`, {
              role: 'roles/secretsmanager.admin',
              member: smAdmin,
            })
          ).status,
          200,
        );
        const ring = (await api('POST', `${region}/keyrings`, { displayName: 'other' })).body.id as string;
        const other = (await api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96' }))
          .body.id as string;
        await fails(
          run('UpdateSecret', { SecretId: 'watched', KmsKeyId: other }, smAdmin),
          'AccessDeniedException',
        );
        await fails(
          run('UpdateSecret', { SecretId: 'watched', KmsKeyId: randomUUID() }, smAdmin),
          'AccessDeniedException',
        );
        await fails(run('UpdateSecret', { SecretId: 'watched', KmsKeyId: other }), 'InvalidRequestException');
        // The key it already has may be named (AWS clients resend it).
        await run('UpdateSecret', { SecretId: 'watched', KmsKeyId: 'alias/aws/secretsmanager' }, smAdmin);

        test('review: a project whose secrets feature is off answers AccessDeniedException, CreateSecret included', async () => {
          const gated = (await api('POST', '/v2/projects', { features: { secrets: false } })).body;
          assert.equal(
            (
              await api('POST', `/v2/projects/${gated.id}/iam-policy:add-binding`, {
                role: 'roles/owner',
                member: admin,
              })
            ).status,
            200,
          );
          const asGated = (operation: string, input: Record<string, unknown>) =>
            ops[operation]!.handler(callAs(admin, operation, gated.id, gated.awsAccountId), input).catch(
              (err: unknown) => {
                throw awsErrorOf(err, 'secretsmanager');
              },
            );
          await fails(
            asGated('GetSecretValue', { SecretId: 'missing' }),
            'AccessDeniedException',
            /disabled/,
          );
          await fails(
            asGated('CreateSecret', { Name: 'gated', SecretString: 'x', ClientRequestToken: randomUUID() }),
            'AccessDeniedException',
            /disabled/,
          );
          const instances = await node.app.storage.db
            .selectFrom('sm_instances')
            .select('id')
            .where('project_id', '=', gated.id)
            .execute();
          assert.equal(instances.length, 0, 'nothing was created');
        });
      });

      test('review: an ARN whose name could carry a suffix tells an accessor of the shorter name nothing about the longer one', async () => {
        await run('CreateSecret', { Name: 'ora', SecretString: 'granted' });
        await run('CreateSecret', { Name: 'ora-Abc123', SecretString: 'hidden' });
        const instances = (await api('GET', `${region}/instances`)).body.items as Array<{
          id: string;
          name: string;
        }>;
        const aws = instances.find((i) => i.name === 'aws')!;
        assert.equal(
          (
            await api('POST', `${region}/instances/${aws.id}/secrets/ora/iam-policy:add-binding`, {
              role: 'roles/secretsmanager.secretAccessor',
              member: accessor,
            })
          ).status,
          200,
        );
        const arn = (await run('DescribeSecret', { SecretId: 'ora' })).ARN as string;
        assert.equal((await run('GetSecretValue', { SecretId: arn }, accessor)).SecretString, 'granted');
        const prefix = arn.slice(0, arn.lastIndexOf(':') + 1);
        // An existing longer secret and a missing one answer alike.
        for (const SecretId of [`${prefix}ora-Abc123`, `${prefix}ora-Zzz999`]) {
          await fails(run('GetSecretValue', { SecretId }, accessor), 'AccessDeniedException');
        }
        assert.equal(
          (await run('GetSecretValue', { SecretId: `${prefix}ora-Abc123` })).SecretString,
          'hidden',
        );
      });
    },
  );
