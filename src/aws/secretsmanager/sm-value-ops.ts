import { Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import { isCofferError } from '../../core/errors.ts';
import type { RevealedValue } from '../../secrets/value-fns.ts';
import type { Secret } from '../../secrets/secret-types.ts';
import { AwsError, awsErrorOf } from '../aws-errors.ts';
import { type AwsCall, type AwsOperation, awsOperation } from '../aws-operation.ts';
import { kmsKeyArnOf } from './sm-describe.ts';
import { putVersion } from './sm-put.ts';
import { resolveSecret, secretArnOf } from './sm-scope.ts';
import {
  SecretBinaryField,
  SecretIdField,
  SecretStringField,
  TokenField,
  awsValueError,
  awsStage,
  cofferStage,
  requireToken,
  seconds,
  str,
  valueOf,
} from './sm-wire.ts';

/** A revealed value as GetSecretValue (and BatchGetSecretValue) answer it. */
export async function valueView(
  call: AwsCall,
  app: App,
  secret: Secret,
  value: RevealedValue,
): Promise<Record<string, unknown>> {
  const versionId = (await app.secretAttributes.versionIds(secret, [value.version])).get(value.version)!;
  // Built member by member in AWS's order (no spread of a temporary object per answer).
  const view: Record<string, unknown> = {
    ARN: secretArnOf(call, secret),
    Name: secret.path,
    VersionId: versionId,
  };
  if (value.binaryValue !== undefined) view.SecretBinary = value.binaryValue.toString('base64');
  else view.SecretString = value.value;
  const stages = value.stages;
  view.VersionStages = stages.length === 1 ? [awsStage(stages[0]!)] : stages.map(awsStage).sort();
  view.CreatedDate = seconds(value.createTimeMs);
  return view;
}

/** AWS's answer for a version a VersionId or VersionStage names but no value carries. */
function valueNotFound(what: string): AwsError {
  return new AwsError(
    'ResourceNotFoundException',
    `Secrets Manager can't find the specified secret value for ${what}`,
  );
}

/**
 * GetSecretValue: the secret resolved and authorized once, then revealed by the native service from
 * the instance and secret in hand (no second lookup by path); by VersionId, through getValue.
 */
async function getSecretValue(
  call: AwsCall,
  app: App,
  input: { SecretId: string; VersionId?: string | undefined; VersionStage?: string | undefined },
) {
  const { instance, secret } = await resolveSecret(call, app, input.SecretId, 'secrets.get_value', {
    live: true,
  });
  let version: number | undefined;
  if (input.VersionId !== undefined) {
    version = await app.secretAttributes.versionOf(secret, input.VersionId);
    if (version === undefined) throw valueNotFound(`VersionId: ${input.VersionId}`);
  }
  const label = input.VersionStage ?? (version === undefined ? 'AWSCURRENT' : undefined);
  let stage: string | undefined;
  try {
    stage = label === undefined ? undefined : cofferStage(label);
  } catch {
    // Coffer's own stage names are never AWS labels: no version carries them.
    throw valueNotFound(`staging label: ${label}`);
  }
  let value: RevealedValue;
  try {
    value =
      version === undefined
        ? await app.secretValues.reveal(instance, secret, call.caller, undefined, stage)
        : await app.secretValues.getValue(
            secret,
            secret.instanceId,
            secret.path,
            String(version),
            stage,
            call.caller,
          );
  } catch (err) {
    if (isCofferError(err, 'not_found') && label !== undefined)
      throw valueNotFound(`staging label: ${label}`);
    if (isCofferError(err, 'invalid_argument'))
      throw new AwsError(
        'InvalidRequestException',
        'You provided a VersionStage that is not associated to the provided VersionId.',
      );
    throw awsValueError(err, 'decrypt');
  }
  call.auditDetails.version = value.version;
  return valueView(call, app, secret, value);
}

/** GetSecretValue, PutSecretValue, ListSecretVersionIds, UpdateSecretVersionStage. */
export function valueOperations(app: App): Record<string, AwsOperation> {
  return {
    GetSecretValue: awsOperation({
      input: Type.Object({
        SecretId: SecretIdField,
        VersionId: Type.Optional(str(32, 64)),
        VersionStage: Type.Optional(str(1, 256)),
      }),
      changesState: false,
      handler: (call, input) => getSecretValue(call, app, input),
    }),

    PutSecretValue: awsOperation({
      input: Type.Object({
        SecretId: SecretIdField,
        ClientRequestToken: TokenField,
        SecretBinary: SecretBinaryField,
        SecretString: SecretStringField,
        VersionStages: Type.Optional(Type.Array(str(1, 256), { minItems: 1, maxItems: 20 })),
        RotationToken: Type.Optional(str(36, 256)),
      }),
      changesState: true,
      handler: async (call, input) => {
        requireToken(input.ClientRequestToken);
        // A put without a value is refused before the secret is looked up (as AWS, and moto).
        if (input.SecretString === undefined && input.SecretBinary === undefined)
          throw new AwsError(
            'InvalidRequestException',
            'You must provide either SecretString or SecretBinary.',
          );
        const named = await resolveSecret(call, app, input.SecretId, 'secrets.put_value', { live: true });
        const value = valueOf(input, true)!;
        let stages = input.VersionStages?.map(cofferStage);
        // The first version of a secret is AWSCURRENT whatever else it is labelled (as AWS does).
        const existing = await app.secretValues.stages(
          named.secret,
          named.secret.instanceId,
          named.secret.path,
        );
        if (stages && !stages.includes('current') && !existing.has('current'))
          stages = ['current', ...stages];
        const versionId = await putVersion(call, app, named, value, stages, input.ClientRequestToken);
        const version = await app.secretAttributes.versionOf(named.secret, versionId);
        const all = await app.secretValues.stages(named.secret, named.secret.instanceId, named.secret.path);
        const labels = [...all].filter(([, v]) => v === version).map(([s]) => awsStage(s));
        return {
          ARN: secretArnOf(call, named.secret),
          Name: named.secret.path,
          VersionId: versionId,
          VersionStages: labels.sort(),
        };
      },
    }),

    ListSecretVersionIds: awsOperation({
      input: Type.Object({
        SecretId: SecretIdField,
        MaxResults: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
        NextToken: Type.Optional(str(1, 4096)),
        IncludeDeprecated: Type.Optional(Type.Boolean()),
      }),
      changesState: false,
      handler: async (call, input) => {
        const { instance, secret } = await resolveSecret(call, app, input.SecretId, 'secrets.versions.list');
        const stages = await app.secretValues.stages(secret, secret.instanceId, secret.path);
        const versions = (await app.secretAttributes.versions(secret))
          .filter((v) => v.state !== 'destroyed')
          .map((v) => ({
            ...v,
            stages: [...stages].filter(([, n]) => n === v.version).map(([s]) => awsStage(s)),
          }))
          // Oldest first, as AWS lists them.
          .filter((v) => input.IncludeDeprecated === true || v.stages.length > 0);
        let start = 0;
        if (input.NextToken !== undefined) {
          start = Number.parseInt(Buffer.from(input.NextToken, 'base64url').toString('utf8'), 10);
          if (!Number.isInteger(start) || start < 0 || start > versions.length)
            throw new AwsError('InvalidNextTokenException', 'The NextToken value is invalid.');
        }
        const max = input.MaxResults ?? 100;
        const page = versions.slice(start, start + max);
        const ids = await app.secretAttributes.versionIds(
          secret,
          page.map((v) => v.version),
        );
        // A secret's versions share its key: AWS names the managed one DefaultEncryptionKey.
        const kmsKeyIds = [(await kmsKeyArnOf(call, app, instance, secret)) ?? 'DefaultEncryptionKey'];
        return {
          ARN: secretArnOf(call, secret),
          Name: secret.path,
          Versions: page.map((v) => ({
            VersionId: ids.get(v.version),
            // A deprecated version (no label) has no VersionStages member at all.
            ...(v.stages.length > 0 ? { VersionStages: v.stages.sort() } : {}),
            CreatedDate: seconds(v.createTimeMs),
            KmsKeyIds: kmsKeyIds,
          })),
          ...(start + max < versions.length
            ? { NextToken: Buffer.from(String(start + max)).toString('base64url') }
            : {}),
        };
      },
    }),

    UpdateSecretVersionStage: awsOperation({
      input: Type.Object({
        SecretId: SecretIdField,
        VersionStage: str(1, 256),
        MoveToVersionId: Type.Optional(str(32, 64)),
        RemoveFromVersionId: Type.Optional(str(32, 64)),
      }),
      changesState: true,
      handler: async (call, input) => {
        const { secret } = await resolveSecret(call, app, input.SecretId, 'secrets.stages.update', {
          live: true,
        });
        const stage = cofferStage(input.VersionStage);
        const versionOf = async (id: string | undefined) => {
          if (id === undefined) return undefined;
          const version = await app.secretAttributes.versionOf(secret, id);
          if (version === undefined)
            throw new AwsError('ResourceNotFoundException', `Secrets Manager can't find the version ${id}.`);
          return version;
        };
        const moveTo = await versionOf(input.MoveToVersionId);
        const removeFrom = await versionOf(input.RemoveFromVersionId);
        call.auditDetails.stage = stage;
        if (moveTo !== undefined) call.auditDetails.version = moveTo;
        await app.secretAttributes
          .relabel(secret, secret.instanceId, secret.path, stage, moveTo, removeFrom)
          .catch((err: unknown) => {
            if (isCofferError(err, 'invalid_argument'))
              throw new AwsError('InvalidParameterException', awsErrorOf(err, 'secretsmanager').message);
            throw err;
          });
        return { ARN: secretArnOf(call, secret), Name: secret.path };
      },
    }),
  };
}
