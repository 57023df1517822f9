/**
 * ARNs of the AWS face (docs/aws.md): `arn:aws:{service}:{region}:{account}:…` where the account is
 * the project's `awsAccountId` and the region the request's credential scope.
 */
import type { AwsCall } from './aws-operation.ts';

/** Where an ARN points: the call's account and region (or another's, when parsed). */
interface ArnScope {
  readonly regionId: string;
  readonly accountId: string;
}

/** `arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}`. */
export function secretArn(call: ArnScope, name: string, suffix: string): string {
  return `arn:aws:secretsmanager:${call.regionId}:${call.accountId}:secret:${name}-${suffix}`;
}

/** `arn:aws:kms:{region}:{account}:key/{keyId}`. */
export function kmsKeyArn(call: ArnScope, keyId: string): string {
  return `arn:aws:kms:${call.regionId}:${call.accountId}:key/${keyId}`;
}

/** `arn:aws:kms:{region}:{account}:alias/{name}` (`name` without or with its `alias/` prefix). */
export function aliasArn(call: ArnScope, name: string): string {
  return `arn:aws:kms:${call.regionId}:${call.accountId}:${name.startsWith('alias/') ? name : `alias/${name}`}`;
}

/** The parts of an ARN. */
export interface ParsedArn {
  readonly service: string;
  readonly regionId: string;
  readonly accountId: string;
  /** Everything after the account (`secret:name-AbCdEf`, `key/uuid`, `alias/name`). */
  readonly resource: string;
}

const arnPattern = /^arn:aws:([a-z0-9-]+):([a-z0-9-]*):([0-9]{12}):(.+)$/;

/** Parses `arn:aws:{service}:{region}:{account}:{resource}`; undefined when it is not one. */
export function parseArn(arn: string): ParsedArn | undefined {
  const match = arnPattern.exec(arn);
  if (!match) return undefined;
  return { service: match[1]!, regionId: match[2]!, accountId: match[3]!, resource: match[4]! };
}

/** Whether a parsed ARN is in the call's account and region (another's names nothing here). */
export function inCallScope(call: AwsCall, arn: ParsedArn): boolean {
  return arn.accountId === call.accountId && arn.regionId === call.regionId;
}

/** A secret ARN's name and 6-character suffix; undefined when it is not a secret ARN. */
export function parseSecretArn(arn: string): (ParsedArn & { name: string; suffix: string }) | undefined {
  const parsed = parseArn(arn);
  if (!parsed || parsed.service !== 'secretsmanager' || !parsed.resource.startsWith('secret:'))
    return undefined;
  const match = /^secret:(.+)-([A-Za-z0-9]{6})$/.exec(parsed.resource);
  if (!match) return undefined;
  return { ...parsed, name: match[1]!, suffix: match[2]! };
}

/** A KMS key ARN's key id, or an alias ARN's `alias/name`; undefined when it is neither. */
export function parseKmsArn(arn: string): (ParsedArn & { keyId?: string; alias?: string }) | undefined {
  const parsed = parseArn(arn);
  if (!parsed || parsed.service !== 'kms') return undefined;
  if (parsed.resource.startsWith('key/')) return { ...parsed, keyId: parsed.resource.slice(4) };
  if (parsed.resource.startsWith('alias/')) return { ...parsed, alias: parsed.resource };
  return undefined;
}
