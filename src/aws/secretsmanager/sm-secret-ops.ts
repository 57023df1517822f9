import { Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import { errors, isCofferError } from '../../core/errors.ts';
import { ensureAwsManagedKey } from '../../kms/kms-alias-service.ts';
import { type CryptoKey, keyResourceName } from '../../kms/kms-types.ts';
import { newArnSuffix } from '../../secrets/secret-attribute-fns.ts';
import { secretArn } from '../arns.ts';
import { AwsError } from '../aws-errors.ts';
import { type AwsCall, type AwsOperation, awsOperation } from '../aws-operation.ts';
import { findKmsKey } from '../kms/key-ids.ts';
import { describeSecret } from './sm-describe.ts';
import {
  awsResourceName,
  checkSecretName,
  ensureAwsInstance,
  findAwsInstance,
  locationOf,
  markedForDeletion,
  resolveSecret,
  secretArnOf,
} from './sm-scope.ts';
import { putVersion } from './sm-put.ts';
import {
  SecretBinaryField,
  SecretIdField,
  SecretStringField,
  TagShape,
  TokenField,
  asValueOperation,
  requireToken,
  seconds,
  str,
  tagsOf,
  valueOf,
} from './sm-wire.ts';

/**
 * The key a KmsKeyId names, which the caller must be allowed to use (`kms.encrypt`, checked by the
 * secret service when binding). A key that does not exist is told apart from one the caller may not
 * use only to a caller allowed to use keys of the region (as the native binding does).
 */
async function namedKey(call: AwsCall, app: App, kmsKeyId: string): Promise<CryptoKey> {
  const key = await findKmsKey(call, app, kmsKeyId);
  if (key) return key;
  if (
    !(await app.authorizer.holds(
      call.principal,
      'kms.encrypt',
      `projects/${call.projectId}/regions/${call.regionId}`,
    ))
  )
    throw errors.denied();
  throw new AwsError(
    'InvalidParameterException',
    `KmsKeyId ${kmsKeyId} names no KMS key in this account and region.`,
  );
}

/** The name a SecretId carries: a name as is; an ARN's resource after `secret:`. */
function secretIdName(secretId: string): string {
  const at = secretId.indexOf(':secret:');
  return secretId.startsWith('arn:') && at >= 0 ? secretId.slice(at + ':secret:'.length) : secretId;
}

/** Whether a KmsKeyId names the AWS-managed key of Secrets Manager (made on first use). */
function namesManagedKey(call: AwsCall, kmsKeyId: string | undefined): boolean {
  const alias = 'alias/aws/secretsmanager';
  return (
    kmsKeyId === undefined ||
    kmsKeyId === '' ||
    kmsKeyId === alias ||
    kmsKeyId === `arn:aws:kms:${call.regionId}:${call.accountId}:${alias}`
  );
}

const CreateSecretInput = Type.Object({
  Name: str(1, 512),
  ClientRequestToken: TokenField,
  Description: Type.Optional(str(0, 2048)),
  KmsKeyId: Type.Optional(str(0, 2048)),
  SecretBinary: SecretBinaryField,
  SecretString: SecretStringField,
  Tags: Type.Optional(Type.Array(TagShape, { maxItems: 50 })),
  AddReplicaRegions: Type.Optional(Type.Array(Type.Object({}), { maxItems: 50 })),
  ForceOverwriteReplicaSecret: Type.Optional(Type.Boolean()),
});

/** Secret lifecycle operations: CreateSecret, DescribeSecret, UpdateSecret, DeleteSecret, RestoreSecret. */
export function secretOperations(app: App): Record<string, AwsOperation> {
  return {
    CreateSecret: awsOperation({
      input: CreateSecretInput,
      changesState: true,
      handler: async (call, input) => {
        if (input.SecretString !== undefined || input.SecretBinary !== undefined)
          requireToken(input.ClientRequestToken);
        const existingId = await findAwsInstance(call, app);
        await call.authorize('secrets.secrets.create', awsResourceName(call, existingId));
        call.auditDetails.secret = input.Name;
        await app.projects.requireFeature(call.projectId, 'secrets');
        checkSecretName(input.Name);
        if (input.AddReplicaRegions && input.AddReplicaRegions.length > 0)
          throw new AwsError(
            'InvalidParameterException',
            'Coffer does not replicate secrets to other regions.',
          );
        const value = valueOf(input, false);
        // An empty Tags list tags nothing: the secret stays never tagged (no Tags member, as AWS).
        const tags = input.Tags && input.Tags.length > 0 ? tagsOf(input.Tags) : undefined;
        const instance = await ensureAwsInstance(call, app);
        const location = locationOf(call);
        // The key is fixed at creation (seed 000): the named key, else the AWS-managed one.
        const key = namesManagedKey(call, input.KmsKeyId)
          ? { managedKey: await ensureAwsManagedKey(app, call.projectId, call.regionId, 'secretsmanager') }
          : { kmsKeyIdentity: keyResourceName(await namedKey(call, app, input.KmsKeyId!)) };
        try {
          const secret = await asValueOperation('encrypt', () =>
            app.secretValues.create(
              location,
              instance.id,
              {
                path: input.Name,
                ...key,
                ...(input.Description !== undefined ? { description: input.Description } : {}),
                ...(tags ? { tags } : {}),
                ...(value ?? {}),
                ...(value && input.ClientRequestToken !== undefined
                  ? { idempotencyKey: input.ClientRequestToken }
                  : {}),
              },
              call.caller,
            ),
          );
          const versionId = value ? (await app.secretAttributes.versionIds(secret, [1])).get(1) : undefined;
          return {
            ARN: secretArnOf(call, secret),
            Name: secret.path,
            ...(versionId ? { VersionId: versionId } : {}),
          };
        } catch (err) {
          if (!isCofferError(err, 'already_exists')) throw err;
          const secret = await app.secrets.inInstance(instance, input.Name);
          if (secret.deleteTimeMs !== null)
            throw new AwsError(
              'InvalidRequestException',
              "You can't create this secret because a secret with this name is already scheduled for deletion.",
            );
          // The same request again (the SDK retries with its token): the first answer.
          if (value && input.ClientRequestToken !== undefined) {
            const version = await asValueOperation(
              'encrypt',
              () => app.secretAttributes.replay(secret, input.ClientRequestToken!, value, ['current']),
              { token: input.ClientRequestToken, arn: secretArnOf(call, secret) },
            );
            if (version === 1)
              return {
                ARN: secretArnOf(call, secret),
                Name: secret.path,
                VersionId: input.ClientRequestToken,
              };
          }
          throw new AwsError(
            'ResourceExistsException',
            `The operation failed because the secret ${input.Name} already exists.`,
          );
        }
      },
    }),

    DescribeSecret: awsOperation({
      input: Type.Object({ SecretId: SecretIdField }),
      changesState: false,
      handler: async (call, input) => {
        const { instance, secret } = await resolveSecret(call, app, input.SecretId, 'secrets.secrets.get');
        return describeSecret(call, app, instance, secret);
      },
    }),

    UpdateSecret: awsOperation({
      input: Type.Object({
        SecretId: SecretIdField,
        ClientRequestToken: TokenField,
        Description: Type.Optional(str(0, 2048)),
        KmsKeyId: Type.Optional(str(0, 2048)),
        SecretBinary: SecretBinaryField,
        SecretString: SecretStringField,
      }),
      changesState: true,
      handler: async (call, input) => {
        if (input.SecretString !== undefined || input.SecretBinary !== undefined)
          requireToken(input.ClientRequestToken);
        const named = await resolveSecret(call, app, input.SecretId, 'secrets.secrets.update', {
          live: true,
        });
        const value = valueOf(input, false);
        if (value) await call.authorize('secrets.put_value', named.resource);
        const { instance, secret } = named;
        if (input.KmsKeyId !== undefined && input.KmsKeyId !== '') {
          const wanted = namesManagedKey(call, input.KmsKeyId)
            ? await ensureAwsManagedKey(app, call.projectId, call.regionId, 'secretsmanager')
            : await findKmsKey(call, app, input.KmsKeyId);
          const current = await app.secrets.keyOf(instance, secret);
          if (wanted === undefined || wanted.uid !== current?.uid) {
            // Another key (or none) is named: say which only to a caller who may use it (the
            // managed key is no secret).
            if (!namesManagedKey(call, input.KmsKeyId)) {
              const key = await namedKey(call, app, input.KmsKeyId);
              if (!(await app.authorizer.holds(call.principal, 'kms.encrypt', keyResourceName(key))))
                throw errors.denied();
            }
            throw new AwsError(
              'InvalidRequestException',
              "A secret's KMS key is fixed when it is created (Coffer rule: its values stay under one key); create a new secret to use another key.",
            );
          }
        }
        let latest = secret;
        if (input.Description !== undefined)
          latest = await app.secretAttributes.change(secret, secret.instanceId, secret.path, {
            description: input.Description,
          });
        const versionId = value
          ? await putVersion(call, app, named, value, undefined, input.ClientRequestToken)
          : undefined;
        return {
          ARN: secretArnOf(call, latest),
          Name: latest.path,
          ...(versionId ? { VersionId: versionId } : {}),
        };
      },
    }),

    DeleteSecret: awsOperation({
      input: Type.Object({
        SecretId: SecretIdField,
        RecoveryWindowInDays: Type.Optional(Type.Integer()),
        ForceDeleteWithoutRecovery: Type.Optional(Type.Boolean()),
      }),
      changesState: true,
      handler: async (call, input) => {
        const force = input.ForceDeleteWithoutRecovery === true;
        if (force && input.RecoveryWindowInDays !== undefined)
          throw new AwsError(
            'InvalidParameterException',
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
          );
        const days = input.RecoveryWindowInDays ?? 30;
        if (!force && (days < 7 || days > 30))
          throw new AwsError(
            'InvalidParameterException',
            'The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).',
          );
        const found = await resolveSecret(call, app, input.SecretId, 'secrets.secrets.delete').catch(
          (err: unknown) => {
            // As AWS: a forced deletion of a secret that does not exist succeeds (asked only
            // after authorization, so the answer tells nothing either way).
            if (force && err instanceof AwsError && err.type === 'ResourceNotFoundException')
              return undefined;
            throw err;
          },
        );
        if (!found) {
          const name = secretIdName(input.SecretId);
          return {
            ARN: input.SecretId.startsWith('arn:') ? input.SecretId : secretArn(call, name, newArnSuffix()),
            Name: name,
            DeletionDate: seconds(app.clock.nowMs()),
          };
        }
        const { secret } = found;
        if (!force && secret.deleteTimeMs !== null) throw markedForDeletion();
        const deleted = await app.secrets.delete(secret, secret.instanceId, secret.path, force ? 0 : days);
        return {
          ARN: secretArnOf(call, secret),
          Name: secret.path,
          DeletionDate: seconds(deleted?.deleteTimeMs ?? app.clock.nowMs()),
        };
      },
    }),

    RestoreSecret: awsOperation({
      input: Type.Object({ SecretId: SecretIdField }),
      changesState: true,
      handler: async (call, input) => {
        const { secret } = await resolveSecret(call, app, input.SecretId, 'secrets.secrets.restore');
        const restored =
          secret.deleteTimeMs === null
            ? secret
            : await app.secrets.restore(secret, secret.instanceId, secret.path);
        return { ARN: secretArnOf(call, restored), Name: restored.path };
      },
    }),
  };
}
