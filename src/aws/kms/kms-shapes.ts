import { Type } from '@sinclair/typebox';
import type { KmsAlgorithm, KmsPurpose } from '../../crypto/kms-algorithms.ts';
import type { RsaSignScheme } from '../../crypto/rsa-schemes.ts';
import type { KeyAttributes } from '../../kms/kms-extras-types.ts';
import type { CryptoKey } from '../../kms/kms-types.ts';
import { AwsError } from '../aws-errors.ts';
import type { AwsCall } from '../aws-operation.ts';

/** AWS KeyUsage values. */
export type KeyUsage = 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC';

/** The AWS KeySpec of each Coffer algorithm (the specs Coffer has; docs/aws.md lists the others). */
export const keySpecOf: Record<KmsAlgorithm, string> = {
  'aes256-gcm96': 'SYMMETRIC_DEFAULT',
  'aes128-gcm96': 'SYMMETRIC_DEFAULT',
  'chacha20-poly1305': 'SYMMETRIC_DEFAULT',
  'rsa-2048': 'RSA_2048',
  'rsa-3072': 'RSA_3072',
  'rsa-4096': 'RSA_4096',
  'ecdsa-p256': 'ECC_NIST_P256',
  'ecdsa-p384': 'ECC_NIST_P384',
  ed25519: 'ECC_NIST_EDWARDS25519',
  'hmac-sha256': 'HMAC_256',
  'hmac-sha512': 'HMAC_512',
};

/** KeySpecs CreateKey accepts, with the algorithm each becomes. */
export const algorithmOfSpec: Readonly<Record<string, KmsAlgorithm>> = {
  SYMMETRIC_DEFAULT: 'aes256-gcm96',
  RSA_2048: 'rsa-2048',
  RSA_3072: 'rsa-3072',
  RSA_4096: 'rsa-4096',
  ECC_NIST_P256: 'ecdsa-p256',
  ECC_NIST_P384: 'ecdsa-p384',
  ECC_NIST_EDWARDS25519: 'ed25519',
  HMAC_256: 'hmac-sha256',
  HMAC_512: 'hmac-sha512',
};

/** Every KeySpec AWS defines: the ones Coffer lacks are refused with UnsupportedOperationException. */
export const awsKeySpecs = [
  'SYMMETRIC_DEFAULT',
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
  'ECC_NIST_EDWARDS25519',
  'HMAC_224',
  'HMAC_256',
  'HMAC_384',
  'HMAC_512',
  'SM2',
  'ML_DSA_44',
  'ML_DSA_65',
  'ML_DSA_87',
];

/** The AWS KeyUsage of a key's purpose. */
export function keyUsageOf(purpose: KmsPurpose): KeyUsage {
  return purpose === 'sign_verify'
    ? 'SIGN_VERIFY'
    : purpose === 'mac'
      ? 'GENERATE_VERIFY_MAC'
      : 'ENCRYPT_DECRYPT';
}

/** Encryption algorithms of a key (AWS names), or undefined for keys that do not encrypt. */
export function encryptionAlgorithmsOf(key: CryptoKey): string[] | undefined {
  if (key.purpose === 'encrypt_decrypt') return ['SYMMETRIC_DEFAULT'];
  if (key.purpose === 'decrypt') return ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'];
  return undefined;
}

/** Signing algorithms of a key (AWS names), or undefined for keys that do not sign. */
export function signingAlgorithmsOf(key: CryptoKey): string[] | undefined {
  if (key.purpose !== 'sign_verify') return undefined;
  if (key.algorithm === 'ecdsa-p256') return ['ECDSA_SHA_256'];
  if (key.algorithm === 'ecdsa-p384') return ['ECDSA_SHA_384'];
  if (key.algorithm === 'ed25519') return ['ED25519_SHA_512'];
  // AWS's order (DescribeKey and GetPublicKey answer the PKCS #1 v1.5 algorithms first).
  return [
    'RSASSA_PKCS1_V1_5_SHA_256',
    'RSASSA_PKCS1_V1_5_SHA_384',
    'RSASSA_PKCS1_V1_5_SHA_512',
    'RSASSA_PSS_SHA_256',
    'RSASSA_PSS_SHA_384',
    'RSASSA_PSS_SHA_512',
  ];
}

/** The RSA scheme of an AWS RSA signing algorithm name, or undefined for other names. */
export function rsaSchemeOf(algorithm: string): RsaSignScheme | undefined {
  const match = /^RSASSA_(PSS|PKCS1_V1_5)_SHA_(256|384|512)$/.exec(algorithm);
  if (!match) return undefined;
  return { padding: match[1] === 'PSS' ? 'pss' : 'pkcs1', hash: `sha${match[2]}` as RsaSignScheme['hash'] };
}

/** MAC algorithms of a key (AWS names), or undefined for keys that do not MAC. */
export function macAlgorithmsOf(key: CryptoKey): string[] | undefined {
  if (key.algorithm === 'hmac-sha256') return ['HMAC_SHA_256'];
  if (key.algorithm === 'hmac-sha512') return ['HMAC_SHA_512'];
  return undefined;
}

/** `arn:aws:kms:{region}:{account}:key/{id}`. */
export function keyArn(call: Pick<AwsCall, 'accountId' | 'regionId'>, keyId: string): string {
  return `arn:aws:kms:${call.regionId}:${call.accountId}:key/${keyId}`;
}

/** `arn:aws:kms:{region}:{account}:alias/{name}` (`name` includes `alias/`). */
export function aliasArn(call: Pick<AwsCall, 'accountId' | 'regionId'>, aliasName: string): string {
  return `arn:aws:kms:${call.regionId}:${call.accountId}:${aliasName}`;
}

/** Epoch seconds, as AWS's JSON timestamps. */
export function epochSeconds(timeMs: number): number {
  return timeMs / 1000;
}

const keyStates: Record<CryptoKey['state'], string> = {
  active: 'Enabled',
  disabled: 'Disabled',
  pending_deletion: 'PendingDeletion',
  destroyed: 'Unavailable',
};

/** AWS's KeyMetadata of a key. */
export function keyMetadata(
  call: AwsCall,
  key: CryptoKey,
  attributes: KeyAttributes,
): Record<string, unknown> {
  const spec = keySpecOf[key.algorithm];
  const encryption = encryptionAlgorithmsOf(key);
  const signing = signingAlgorithmsOf(key);
  const mac = macAlgorithmsOf(key);
  return {
    AWSAccountId: call.accountId,
    KeyId: key.id,
    Arn: keyArn(call, key.id),
    CreationDate: epochSeconds(key.createTimeMs),
    Enabled: key.state === 'active',
    Description: attributes.description,
    KeyUsage: keyUsageOf(key.purpose),
    KeyState: keyStates[key.state],
    ...(key.deletionTimeMs !== null && key.state === 'pending_deletion'
      ? { DeletionDate: epochSeconds(key.deletionTimeMs) }
      : {}),
    Origin: 'AWS_KMS',
    KeyManager: attributes.keyManager,
    CustomerMasterKeySpec: spec,
    KeySpec: spec,
    ...(encryption ? { EncryptionAlgorithms: encryption } : {}),
    ...(signing ? { SigningAlgorithms: signing } : {}),
    ...(mac ? { MacAlgorithms: mac } : {}),
    MultiRegion: false,
  };
}

/** A base64 blob field with AWS's byte limits (checked after decoding). */
export const Blob = Type.String({ maxLength: 16384 });

/** A KeyId field: key id, key ARN, alias name or alias ARN. */
export const KeyIdField = Type.String({ minLength: 1, maxLength: 2048 });

/** An encryption context: string pairs. */
export const EncryptionContextField = Type.Record(Type.String(), Type.String());

/** Grant tokens (accepted; grants take effect at once in Coffer). */
export const GrantTokensField = Type.Array(Type.String({ minLength: 1, maxLength: 8192 }), { maxItems: 10 });

/** Pagination fields of a list operation whose Limit is at most `max` (AWS: 1000, 100 or 50 by operation). */
export function pagingUpTo(max: number) {
  return {
    Limit: Type.Optional(Type.Integer({ minimum: 1, maximum: max })),
    Marker: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  };
}

/** Pagination fields of list operations (Limit 1–1000: ListKeys, ListKeyPolicies, ListKeyRotations). */
export const Paging = pagingUpTo(1000);

/** Decodes a base64 blob with a byte range; ValidationException otherwise. */
export function blobBytes(value: string, field: string, min: number, max: number): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0)
    throw new AwsError('ValidationException', `${field} is not valid base64.`);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length < min || bytes.length > max)
    throw new AwsError(
      'ValidationException',
      `1 validation error detected: Value at '${field.charAt(0).toLowerCase()}${field.slice(1)}' failed to satisfy constraint: Member must have length ${bytes.length < min ? `greater than or equal to ${min}` : `less than or equal to ${max}`}`,
    );
  return bytes;
}

/** Base64 of bytes. */
export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** The opaque Marker of a page: the last item's sort key. */
export function pageMarker(last: string): string {
  return Buffer.from(last, 'utf8').toString('base64url');
}

/** The sort key a Marker names; InvalidMarkerException when malformed. */
export function afterMarker(marker: string | undefined): string | undefined {
  if (marker === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]+$/.test(marker))
    throw new AwsError('InvalidMarkerException', 'The marker is invalid.');
  return Buffer.from(marker, 'base64url').toString('utf8');
}

/** A page's `Truncated`/`NextMarker` fields from `limit` + 1 rows. */
export function pageOf<T>(rows: T[], limit: number, keyOf: (row: T) => string) {
  const truncated = rows.length > limit;
  const items = truncated ? rows.slice(0, limit) : rows;
  return {
    items,
    paging: truncated
      ? { NextMarker: pageMarker(keyOf(items.at(-1)!)), Truncated: true }
      : { Truncated: false },
  };
}
