/**
 * Encryption and decryption with a key as the face's Encrypt, Decrypt and ReEncrypt need them: the
 * algorithm a request names, checked against the key; the key a ciphertext is for (from KeyId or the
 * blob's header); symmetric (the encryption context as AAD) or RSA-OAEP, with the crypto service's
 * refusals mapped to AWS's errors.
 */
import { type Static, Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import { isCofferError } from '../../core/errors.ts';
import { readKmsHeader } from '../../crypto/kms-ciphertext.ts';
import { rsaOaepMaxPlaintextWith } from '../../crypto/rsa-schemes.ts';
import type { GrantOperation } from '../../kms/kms-extras-types.ts';
import { type EncryptionContext, encryptionContextAad } from '../../kms/kms-grant-fns.ts';
import type { CryptoKey } from '../../kms/kms-types.ts';
import { AwsError } from '../aws-errors.ts';
import type { AwsCall } from '../aws-operation.ts';
import { placeholderKeyName } from './key-ids.ts';
import { authorizedKey, authorizeKey } from './key-access.ts';
import { keyArn, keySpecOf } from './kms-shapes.ts';

/** The EncryptionAlgorithm member of Encrypt, Decrypt and ReEncrypt. */
export const EncryptionAlgorithm = Type.Union([
  Type.Literal('SYMMETRIC_DEFAULT'),
  Type.Literal('RSAES_OAEP_SHA_1'),
  Type.Literal('RSAES_OAEP_SHA_256'),
  Type.Literal('SM2PKE'),
]);
export type EncryptionAlgorithm = Static<typeof EncryptionAlgorithm>;

/** AWS's answer to a ciphertext that is not one, or not for this key or context. */
export const invalidCiphertext = () =>
  new AwsError(
    'InvalidCiphertextException',
    'The ciphertext is invalid, or was made under another key or encryption context.',
  );

/** The algorithm a request names for a key, checked against the key (AWS's errors). */
export function algorithmFor(
  call: AwsCall,
  key: CryptoKey,
  requested: EncryptionAlgorithm | undefined,
  context: EncryptionContext | undefined,
): string {
  if (key.purpose === 'encrypt_decrypt') {
    if (requested !== undefined && requested !== 'SYMMETRIC_DEFAULT')
      throw new AwsError(
        'InvalidKeyUsageException',
        `${requested} is not valid for the symmetric key ${keyArn(call, key.id)}.`,
      );
    return 'SYMMETRIC_DEFAULT';
  }
  if (requested === undefined || requested === 'SYMMETRIC_DEFAULT')
    throw new AwsError(
      'InvalidKeyUsageException',
      `${keyArn(call, key.id)} is an RSA key: name EncryptionAlgorithm RSAES_OAEP_SHA_256.`,
    );
  if (requested !== 'RSAES_OAEP_SHA_256' && requested !== 'RSAES_OAEP_SHA_1')
    throw new AwsError('UnsupportedOperationException', `${requested} is not valid for an RSA key.`);
  if (context !== undefined && Object.keys(context).length > 0)
    throw new AwsError('ValidationException', 'EncryptionContext is not supported with asymmetric keys.');
  return requested;
}

/** The reference of a key that the crypto service's calls take. */
export const refOf = (key: CryptoKey) => ({
  projectId: key.projectId,
  regionId: key.regionId,
  keyRingId: key.keyRingId,
  keyId: key.id,
});

/** Maps the crypto service's "bad ciphertext" refusal to InvalidCiphertextException. */
async function asCiphertextError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isCofferError(err, 'invalid_argument')) throw invalidCiphertext();
    throw err;
  }
}

/**
 * The key a ciphertext is for: the one KeyId names (IncorrectKeyException when the blob names another),
 * or, without KeyId, the key named in the blob's header, in the call's project and region only (a blob
 * of another project, region or key that is gone is InvalidCiphertextException, after authorization on
 * the name it would have, so nothing about other projects is told).
 */
export async function keyOfCiphertext(
  call: AwsCall,
  app: App,
  blob: Buffer,
  keyId: string | undefined,
  use: {
    permission: 'kms.decrypt' | 'kms.rewrap';
    grant: GrantOperation;
    context: EncryptionContext | undefined;
  },
): Promise<CryptoKey> {
  let headerUid: string | undefined;
  try {
    headerUid = readKmsHeader(blob).keyId;
  } catch {
    headerUid = undefined;
  }
  if (keyId !== undefined) {
    const key = await authorizedKey(call, app, keyId, use);
    // A blob made by another key is IncorrectKeyException, even when KeyId names a signing or MAC
    // key (as AWS). RSA-OAEP blobs carry no header: for an RSA encryption key a parse is chance.
    const another = headerUid !== undefined && headerUid !== key.uid;
    if (key.purpose === 'encrypt_decrypt' && headerUid === undefined) throw invalidCiphertext();
    if (another && key.purpose !== 'decrypt')
      throw new AwsError(
        'IncorrectKeyException',
        'The key ID in the request does not identify a CMK that can perform this operation.',
      );
    return key;
  }
  const key = headerUid === undefined ? undefined : await app.kms.findKeyByUid(headerUid);
  if (
    !key ||
    key.projectId !== call.projectId ||
    key.regionId !== call.regionId ||
    key.state === 'destroyed'
  ) {
    await call.authorize(use.permission, placeholderKeyName(call, headerUid ?? 'ciphertext'));
    throw invalidCiphertext();
  }
  await authorizeKey(call, app, key, use);
  await app.projects.requireFeature(call.projectId, 'kms');
  return key;
}

/** Decrypts a blob with `key` (symmetric with the context as AAD, or RSA-OAEP). */
export async function decryptWith(
  app: App,
  key: CryptoKey,
  blob: Buffer,
  context: EncryptionContext | undefined,
  algorithm: string,
) {
  return asCiphertextError(() =>
    key.purpose === 'encrypt_decrypt'
      ? app.kmsCrypto.decryptWithKey(key, blob, encryptionContextAad(context))
      : app.kmsCrypto.decryptRsa(refOf(key), oaepHash(algorithm), blob),
  );
}

const oaepHash = (algorithm: string) => (algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256');

/** Encrypts with `key` (symmetric with the context as AAD, or RSA-OAEP). */
export function encryptWith(
  app: App,
  key: CryptoKey,
  plaintext: Buffer,
  context: EncryptionContext | undefined,
  algorithm: string,
) {
  if (key.purpose === 'encrypt_decrypt')
    return app.kmsCrypto.encryptWithKey(key, plaintext, encryptionContextAad(context));
  const bits = Number(key.algorithm.slice('rsa-'.length));
  const max = rsaOaepMaxPlaintextWith(bits, oaepHash(algorithm));
  if (plaintext.length > max)
    throw new AwsError(
      'ValidationException',
      `Algorithm ${algorithm} and key spec ${keySpecOf[key.algorithm]} cannot encrypt data larger than ${max} bytes.`,
    );
  return app.kmsCrypto.encryptRsa(refOf(key), oaepHash(algorithm), plaintext);
}
