import type { App } from '../../app/app.ts';
import { isUuid } from '../../core/ids.ts';
import { awsKeyRingId } from '../../kms/kms-key-extras-service.ts';
import type { CryptoKey, KmsLocation } from '../../kms/kms-types.ts';
import { AwsError } from '../aws-errors.ts';
import type { AwsCall } from '../aws-operation.ts';

/** What a KeyId names: a key by id, or an alias by name. */
export type KeyIdTarget = { readonly keyId: string } | { readonly alias: string };

const arnPattern = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key\/.+|alias\/.+)$/;

/**
 * The NotFoundException AWS answers for a KeyId that names nothing, in AWS's words: a key id is shown
 * as its ARN (`Key 'arn:…:key/…' does not exist`), an alias as `Alias arn:…:alias/… is not found.`,
 * an ARN of another region as `Invalid arn <region>`, anything else as `Invalid keyId '…'`. Only the
 * caller's own input is echoed.
 */
export function keyNotFound(call: Pick<AwsCall, 'accountId' | 'regionId'>, keyId: string): AwsError {
  const local = `arn:aws:kms:${call.regionId}:${call.accountId}:`;
  const region = /^arn:aws[a-z-]*:kms:([^:]*):/.exec(keyId)?.[1];
  const message = isUuid(keyId)
    ? `Key '${local}key/${keyId}' does not exist`
    : region !== undefined && region !== call.regionId
      ? `Invalid arn ${region}`
      : /^arn:aws[a-z-]*:kms:[^:]*:[^:]*:key\//.test(keyId)
        ? `Key '${keyId}' does not exist`
        : keyId.startsWith('alias/')
          ? `Alias ${local}${keyId} is not found.`
          : /^arn:aws[a-z-]*:kms:[^:]*:[^:]*:alias\//.test(keyId)
            ? `Alias ${keyId} is not found.`
            : `Invalid keyId '${keyId}'`;
  return new AwsError('NotFoundException', message);
}

/**
 * Parses a KeyId (key UUID, key ARN, `alias/name`, alias ARN) in the call's account and region;
 * undefined when it can name nothing there (another account or region, or malformed).
 */
export function parseKeyId(
  call: Pick<AwsCall, 'accountId' | 'regionId'>,
  keyId: string,
): KeyIdTarget | undefined {
  let local = keyId;
  const arn = arnPattern.exec(keyId);
  if (arn) {
    if (arn[1] !== call.regionId || arn[2] !== call.accountId) return undefined;
    local = arn[3]!;
    if (local.startsWith('key/')) local = local.slice(4);
  } else if (keyId.startsWith('arn:')) return undefined;
  if (local.startsWith('alias/')) return local.length > 6 ? { alias: local } : undefined;
  return isUuid(local) ? { keyId: local } : undefined;
}

/** The call's project and region. */
export function locationOf(call: Pick<AwsCall, 'projectId' | 'regionId'>): KmsLocation {
  return { projectId: call.projectId, regionId: call.regionId };
}

/** How a KeyId may name a key. */
export interface KeyIdRules {
  /**
   * Only a key id or key ARN, as AWS's key management operations take (tags, policies, rotation,
   * grants, alias targets): an alias name or alias ARN names nothing there (NotFoundException).
   */
  readonly keyOnly?: boolean;
}

/** The key a KeyId names in the call's project and region, or undefined (destroyed keys count as gone). */
export async function findKmsKey(
  call: AwsCall,
  app: App,
  keyId: string,
  rules: KeyIdRules = {},
): Promise<CryptoKey | undefined> {
  const target = parseKeyId(call, keyId);
  if (!target || (rules.keyOnly && 'alias' in target)) return undefined;
  const location = locationOf(call);
  if ('keyId' in target) return app.kmsKeyExtras.findKeyById(location, target.keyId);
  const alias = await app.kmsAliases.find(location, target.alias);
  if (!alias) return undefined;
  const key = await app.kms.findKeyByUid(alias.keyUid);
  return key && key.state !== 'destroyed' ? key : undefined;
}

/**
 * The key a KeyId names (key UUID, key ARN, `alias/name`, alias ARN) in the call's project and region;
 * NotFoundException when absent. Does not authorize: callers authorize on the key's resource name.
 */
export async function resolveKmsKeyId(call: AwsCall, app: App, keyId: string): Promise<CryptoKey> {
  const key = await findKmsKey(call, app, keyId);
  if (!key) throw keyNotFound(call, keyId);
  return key;
}

/**
 * The resource name a KeyId would have if it named an AWS-created key: what an authorization is
 * checked on when the key is not found, so that only callers allowed there learn that it is absent.
 */
export function placeholderKeyName(call: Pick<AwsCall, 'projectId' | 'regionId'>, keyId: string): string {
  return `projects/${call.projectId}/regions/${call.regionId}/keyrings/${awsKeyRingId}/keys/${encodeURIComponent(keyId)}`;
}
