import type { App } from '../../app/app.ts';
import { isCofferError } from '../../core/errors.ts';
import type { Permission } from '../../iam/permissions.ts';
import { arnSuffixOf } from '../../secrets/secret-attribute-fns.ts';
import { checkSecretPath } from '../../secrets/secret-fns.ts';
import { type Instance, type Secret, type SecretsLocation, secretName } from '../../secrets/secret-types.ts';
import { secretArn } from '../arns.ts';
import { AwsError } from '../aws-errors.ts';
import type { AwsCall } from '../aws-operation.ts';

/** The instance, per project and region, that holds the secrets of the AWS face. */
export const awsInstanceName = 'aws';

/** The call's project and region. */
export const locationOf = (call: AwsCall): SecretsLocation => ({
  projectId: call.projectId,
  regionId: call.regionId,
});

/** The id of the call's `aws` instance, or undefined while none exists. */
export function findAwsInstance(call: AwsCall, app: App): Promise<string | undefined> {
  return app.instances.idForName(locationOf(call), awsInstanceName);
}

/** The call's `aws` instance, created on first use (a concurrent creation wins; its instance is used). */
export async function ensureAwsInstance(call: AwsCall, app: App): Promise<Instance> {
  const location = locationOf(call);
  const found = await findAwsInstance(call, app);
  if (found) return app.instances.get(location, found);
  try {
    return await app.instances.create(location, { name: awsInstanceName }, call.principal);
  } catch (err) {
    if (!isCofferError(err, 'already_exists')) throw err;
    const id = await findAwsInstance(call, app);
    if (!id) throw err;
    return app.instances.get(location, id);
  }
}

/**
 * The Coffer resource name of the `aws` instance, or of a secret in it: with the instance's id once
 * it exists, else with its name in the id's place (no real resource: only project and region grants
 * apply there, as they would to the instance once created).
 */
export function awsResourceName(call: AwsCall, instanceId: string | undefined, path?: string): string {
  const instance = `projects/${call.projectId}/regions/${call.regionId}/instances/${instanceId ?? awsInstanceName}`;
  return path === undefined ? instance : `${instance}/secrets/${encodeURIComponent(path)}`;
}

/** The ARN of a secret of the call's account and region. */
export function secretArnOf(call: AwsCall, secret: Pick<Secret, 'path' | 'uid' | 'arnSuffix'>): string {
  return secretArn(call, secret.path, arnSuffixOf(secret));
}

/** AWS's answer for a secret it cannot find (the same whatever the reason). */
export function secretNotFound(): AwsError {
  return new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
}

/** AWS's answer for an operation on a secret pending deletion. */
export function markedForDeletion(): AwsError {
  return new AwsError(
    'InvalidRequestException',
    "You can't perform this operation on the secret because it was marked for deletion.",
  );
}

/** AWS's answer to a name with characters outside `[A-Za-z0-9/_+=.@-]` (its exact message). */
function invalidName(): AwsError {
  return new AwsError(
    'ValidationException',
    'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
  );
}

/** Checks a new secret's name as AWS does (ValidationException); Coffer also refuses `.` and `..`. */
export function checkSecretName(name: string): void {
  try {
    checkSecretPath(name);
  } catch {
    throw invalidName();
  }
}

/** A SecretId that is not an ARN must be a well-formed name (AWS checks it before looking it up). */
function checkSecretId(secretId: string): void {
  if (!secretId.startsWith('arn:') && !/^[A-Za-z0-9/_+=.@-]+$/.test(secretId)) throw invalidName();
}

const arnPattern = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/;

/** The names a SecretId may mean, most specific first: a name, or an ARN (full with its suffix, or partial). */
function candidatesOf(call: AwsCall, secretId: string): Array<{ name: string; suffix?: string }> {
  if (!secretId.startsWith('arn:')) return [{ name: secretId }];
  const arn = arnPattern.exec(secretId);
  // Another account's or region's ARN names nothing here.
  if (!arn || arn[1] !== call.regionId || arn[2] !== call.accountId) return [];
  const rest = arn[3]!;
  const suffixed = /^(.+)-([A-Za-z0-9]{6})$/.exec(rest);
  return suffixed ? [{ name: suffixed[1]!, suffix: suffixed[2]! }, { name: rest }] : [{ name: rest }];
}

/** A secret the call named, found and authorized. */
export interface NamedSecret {
  readonly instance: Instance;
  readonly secret: Secret;
  /** Its Coffer resource name. */
  readonly resource: string;
}

/**
 * Resolves a SecretId (name, full ARN, partial ARN) in the call's `aws` instance, then authorizes
 * `permission` on the secret's resource name BEFORE answering anything: a caller without it gets
 * AccessDeniedException whether or not the secret exists. Only the call's project, region and `aws`
 * instance are ever searched (another account's ARN names nothing). `live` refuses a secret pending
 * deletion (InvalidRequestException), after authorization.
 */
export async function resolveSecret(
  call: AwsCall,
  app: App,
  secretId: string,
  permission: Permission,
  options: { live?: boolean; auditAction?: string } = {},
): Promise<NamedSecret> {
  checkSecretId(secretId);
  const instanceId = await findAwsInstance(call, app);
  // A plain name (the common case) is its one candidate: no candidate list is made for it.
  const candidates = secretId.startsWith('arn:') ? candidatesOf(call, secretId) : undefined;
  let found: { instance: Instance; secret: Secret } | undefined;
  if (instanceId !== undefined && (candidates === undefined || candidates.length > 0)) {
    const instance = await app.instances.get(locationOf(call), instanceId);
    if (candidates === undefined) {
      const secret = await findInInstance(app, instance, secretId);
      if (secret) found = { instance, secret };
    } else
      for (const candidate of candidates) {
        const secret = await findInInstance(app, instance, candidate.name);
        if (secret && (candidate.suffix === undefined || arnSuffixOf(secret) === candidate.suffix)) {
          found = { instance, secret };
          break;
        }
      }
  }
  const opts = options.auditAction !== undefined ? { auditAction: options.auditAction } : undefined;
  if (found) {
    const resource = secretName(found.secret);
    await call.authorize(permission, resource, opts);
    await app.projects.requireFeature(call.projectId, 'secrets');
    if (options.live && found.secret.deleteTimeMs !== null) throw markedForDeletion();
    return { instance: found.instance, secret: found.secret, resource };
  }
  // A miss is told only to a caller allowed on every name the SecretId could mean (an ARN's name
  // with and without its suffix), so no answer depends on a secret the caller may not see.
  const names =
    candidates === undefined
      ? [secretId]
      : candidates.length > 0
        ? candidates.map((c) => c.name)
        : [secretId];
  await call.authorize(permission, awsResourceName(call, instanceId, names[0]), opts);
  for (const other of names.slice(1))
    await call.authorize(permission, awsResourceName(call, instanceId, other));
  await app.projects.requireFeature(call.projectId, 'secrets');
  throw secretNotFound();
}

/** The secret at `path` in the instance, or undefined. */
async function findInInstance(app: App, instance: Instance, path: string): Promise<Secret | undefined> {
  try {
    return await app.secrets.inInstance(instance, path);
  } catch (err) {
    if (isCofferError(err, 'not_found')) return undefined;
    throw err;
  }
}
