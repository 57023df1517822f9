import type { App } from '../../app/app.ts';
import type { Permission } from '../../iam/permissions.ts';
import type { GrantOperation } from '../../kms/kms-extras-types.ts';
import type { EncryptionContext } from '../../kms/kms-grant-fns.ts';
import { type CryptoKey, keyResourceName } from '../../kms/kms-types.ts';
import { AwsError } from '../aws-errors.ts';
import type { AwsCall } from '../aws-operation.ts';
import { findKmsKey, type KeyIdRules, keyNotFound, parseKeyId, placeholderKeyName } from './key-ids.ts';
import { keyArn } from './kms-shapes.ts';

/** How an operation uses the key it names (and whether its KeyId may be an alias: `keyOnly`). */
export interface KeyUse extends KeyIdRules {
  /** The permission of the native twin, checked on the key's resource name. */
  readonly permission: Permission;
  /** The grant operation that allows the same use without the permission (grants are enforced). */
  readonly grant?: GrantOperation;
  /** The request's encryption context, for grant constraints. */
  readonly context?: EncryptionContext | undefined;
}

/**
 * Names the request's audit event after `permission` on `resource` (the first authorize of a call does)
 * for a use that a KMS grant allows although IAM does not: the IAM refusal is expected and dropped.
 */
export async function authorizeByGrant(
  call: AwsCall,
  permission: Permission,
  resource: string,
  grantId: string,
) {
  call.auditDetails.grantId = grantId;
  try {
    await call.authorize(permission, resource);
  } catch (err) {
    if (!(err instanceof AwsError) || err.type !== 'AccessDeniedException') throw err;
  }
}

/**
 * Authorizes `use` of `key` for the call: Coffer IAM allows it, or an active grant of the key names
 * the caller as grantee for this operation and its constraints hold. A grant-allowed use is audited
 * like any other (same action and resource) with `grantId` in the details. The native /v2 face does
 * not read grants (docs/aws.md): they are an AWS-face authorization source.
 */
export async function authorizeKey(
  call: AwsCall,
  app: App,
  key: CryptoKey,
  use: KeyUse,
  shownAs?: string,
): Promise<void> {
  const name = keyResourceName(key);
  if (use.grant && !(await app.authorizer.holds(call.principal, use.permission, name))) {
    const grant = await app.kmsGrants.allowing(call.principal, key, use.grant, use.context);
    if (grant) return authorizeByGrant(call, use.permission, name, grant.id);
  }
  await call.authorize(use.permission, name, shownAs === undefined ? undefined : { shownAs });
}

/** What a refusal names for a KeyId that is an alias: its placeholder, as when the alias is absent. */
export function shownKeyName(call: AwsCall, keyId: string): string | undefined {
  const target = parseKeyId(call, keyId);
  return target && 'alias' in target ? placeholderKeyName(call, keyId) : undefined;
}

/**
 * The key a KeyId names, authorized for `use` before anything about it is told: a KeyId that names no
 * key is authorized on the name it would have in the `aws` key ring, so only callers allowed there
 * learn that it does not exist (NotFoundException); others get AccessDeniedException either way.
 */
export async function authorizedKey(call: AwsCall, app: App, keyId: string, use: KeyUse): Promise<CryptoKey> {
  const key = await findKmsKey(call, app, keyId, use);
  if (!key) {
    await call.authorize(use.permission, placeholderKeyName(call, keyId));
    throw keyNotFound(call, keyId);
  }
  // Refused through an alias, the message names the alias as for an absent one (no existence oracle).
  await authorizeKey(call, app, key, use, shownKeyName(call, keyId));
  await app.projects.requireFeature(call.projectId, 'kms');
  return key;
}

/** What a key management operation asks of its key beyond the permission. */
export interface ManagedKeyRules {
  /** A change of the key: refused for keys Coffer manages for AWS services (alias/aws/*). */
  readonly change?: boolean;
  /** Refused unless the key is enabled (DisabledException / KMSInvalidStateException). */
  readonly enabled?: boolean;
}

/**
 * The key a key management operation names — a key id or key ARN only (an alias names nothing
 * there, as AWS's management operations take) — authorized for `permission` (authorizedKey), then
 * checked as `rules` say. The one resolve-and-authorize step of tags, policies, rotation, grants,
 * descriptions and the key's lifecycle.
 */
export async function managedKey(
  call: AwsCall,
  app: App,
  keyId: string,
  permission: Permission,
  rules: ManagedKeyRules = {},
): Promise<CryptoKey> {
  const key = await authorizedKey(call, app, keyId, { permission, keyOnly: true });
  if (rules.change) await requireCustomerManaged(call, app, key);
  if (rules.enabled) requireEnabled(call, key);
  return key;
}

/** Refuses a key that cannot serve `operation` now: not enabled, or made for another usage. */
export function requireUsable(
  call: AwsCall,
  key: CryptoKey,
  purposes: readonly CryptoKey['purpose'][],
  operation: string,
): void {
  requireEnabled(call, key);
  requireUsage(call, key, purposes, operation);
}

/** Refuses a crypto operation on a key that is not enabled: DisabledException or KMSInvalidStateException. */
export function requireEnabled(call: AwsCall, key: CryptoKey): void {
  if (key.state === 'disabled')
    throw new AwsError('DisabledException', `${keyArn(call, key.id)} is disabled.`);
  if (key.state !== 'active')
    throw new AwsError('KMSInvalidStateException', `${keyArn(call, key.id)} is pending deletion.`);
}

/** Refuses a key whose usage does not fit the operation (InvalidKeyUsageException). */
export function requireUsage(
  call: AwsCall,
  key: CryptoKey,
  purposes: readonly CryptoKey['purpose'][],
  operation: string,
): void {
  if (!purposes.includes(key.purpose))
    throw new AwsError(
      'InvalidKeyUsageException',
      `${keyArn(call, key.id)} key usage is ${key.purpose === 'sign_verify' ? 'SIGN_VERIFY' : key.purpose === 'mac' ? 'GENERATE_VERIFY_MAC' : 'ENCRYPT_DECRYPT'} which is not valid for ${operation}.`,
    );
}

/** Refuses metadata changes of keys Coffer manages for AWS services (alias/aws/*), as AWS does. */
export async function requireCustomerManaged(call: AwsCall, app: App, key: CryptoKey): Promise<void> {
  if ((await app.kmsKeyExtras.attributes(key)).keyManager === 'AWS')
    throw new AwsError(
      'AccessDeniedException',
      `${keyArn(call, key.id)} is an AWS managed key: it cannot be changed, deleted or granted.`,
    );
}
