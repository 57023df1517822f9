import type { App } from '../../app/app.ts';
import type { RotationStatusView } from '../../core/api/rotation-schemas.ts';
import type { Instance, Secret } from '../../secrets/secret-types.ts';
import type { AwsCall } from '../aws-operation.ts';
import { secretArnOf } from './sm-scope.ts';
import { awsStage, awsTags, seconds } from './sm-wire.ts';

/** The uid of the call's AWS-managed Secrets Manager key, or null while it does not exist. */
export async function managedKeyUid(call: AwsCall, app: App): Promise<string | null> {
  const alias = await app.kmsAliases.find(
    { projectId: call.projectId, regionId: call.regionId },
    'alias/aws/secretsmanager',
  );
  return alias?.keyUid ?? null;
}

/** The KMS key ARN of a secret's key, or undefined for the AWS-managed key (AWS omits it then) or none. */
export async function kmsKeyArnOf(
  call: AwsCall,
  app: App,
  instance: Instance,
  secret: Secret,
  managed?: string | null,
) {
  const key = await app.secrets.keyOf(instance, secret);
  if (!key) return undefined;
  if ((managed === undefined ? await managedKeyUid(call, app) : managed) === key.uid) return undefined;
  return `arn:aws:kms:${key.regionId}:${call.accountId}:key/${key.id}`;
}

/** Version id → AWS staging labels, for the versions that carry a stage. */
export async function versionIdsToStages(app: App, secret: Secret): Promise<Record<string, string[]>> {
  const stages = await app.secretValues.stages(secret, secret.instanceId, secret.path);
  const byVersion = new Map<number, string[]>();
  for (const [stage, version] of stages)
    byVersion.set(version, [...(byVersion.get(version) ?? []), awsStage(stage)]);
  const ids = await app.secretAttributes.versionIds(secret, [...byVersion.keys()]);
  const out: Record<string, string[]> = {};
  for (const [version, labels] of byVersion) out[ids.get(version)!] = labels.sort();
  return out;
}

/**
 * The rotation fields of DescribeSecret/ListSecrets. As AWS, `RotationEnabled` is left out for a
 * secret never configured for rotation (no schedule, no rotator, never rotated).
 */
export async function rotationView(app: App, secret: Secret, known?: RotationStatusView) {
  const status = known === undefined ? await app.rotation.status(secret) : known;
  const days = secret.rotationPeriodSeconds === null ? undefined : secret.rotationPeriodSeconds / 86_400;
  const lastSuccess = status?.lastSuccessTime;
  const configured = secret.rotationPeriodSeconds !== null || status !== null;
  return {
    ...(configured ? { RotationEnabled: secret.rotationPeriodSeconds !== null } : {}),
    ...(days !== undefined
      ? {
          RotationRules:
            Number.isInteger(days) && days >= 1
              ? { AutomaticallyAfterDays: days }
              : { ScheduleExpression: `rate(${secret.rotationPeriodSeconds! / 3600} hours)` },
        }
      : {}),
    ...(secret.nextRotationTimeMs !== null ? { NextRotationDate: seconds(secret.nextRotationTimeMs) } : {}),
    ...(lastSuccess ? { LastRotatedDate: seconds(Date.parse(lastSuccess)) } : {}),
  };
}

/** A secret as DescribeSecret (and, with `versions: false`, ListSecrets without stages) shows it. */
export async function describeSecret(
  call: AwsCall,
  app: App,
  instance: Instance,
  secret: Secret,
  options: { versions: boolean; managed?: string | null; status?: RotationStatusView } = { versions: true },
): Promise<Record<string, unknown>> {
  const kmsKeyId = await kmsKeyArnOf(call, app, instance, secret, options.managed);
  const versions = options.versions ? await versionIdsToStages(app, secret) : {};
  return {
    ARN: secretArnOf(call, secret),
    Name: secret.path,
    ...(secret.description ? { Description: secret.description } : {}),
    ...(kmsKeyId ? { KmsKeyId: kmsKeyId } : {}),
    ...(await rotationView(app, secret, options.status)),
    LastChangedDate: seconds(secret.updateTimeMs),
    ...(secret.deleteTimeMs !== null
      ? { DeletedDate: seconds(secret.deletedTimeMs ?? secret.updateTimeMs) }
      : {}),
    // AWS answers only members with a value: no Tags on a secret never tagged (`[]` once its last
    // tag is removed), no version map before the first value.
    ...(secret.tags !== undefined ? { Tags: awsTags(secret) } : {}),
    ...(options.versions && Object.keys(versions).length > 0 ? { VersionIdsToStages: versions } : {}),
    CreatedDate: seconds(secret.createTimeMs),
  };
}
