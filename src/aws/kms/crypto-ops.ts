import { randomBytes } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import { isCofferError } from '../../core/errors.ts';
import { readKmsHeader } from '../../crypto/kms-ciphertext.ts';
import { rsaOaepMaxPlaintextWith } from '../../crypto/rsa-schemes.ts';
import type { GrantOperation } from '../../kms/kms-extras-types.ts';
import { type EncryptionContext, encryptionContextAad } from '../../kms/kms-grant-fns.ts';
import type { CryptoKey } from '../../kms/kms-types.ts';
import { AwsError } from '../aws-errors.ts';
import { type AwsCall, type AwsOperation, awsOperation } from '../aws-operation.ts';
import { placeholderKeyName } from './key-ids.ts';
import { authorizedKey, authorizeKey, requireEnabled, requireUsable, requireUsage } from './key-access.ts';
import {
  b64,
  Blob,
  blobBytes,
  EncryptionContextField,
  GrantTokensField,
  KeyIdField,
  keyArn,
  keySpecOf,
} from './kms-shapes.ts';

const EncryptionAlgorithm = Type.Union([
  Type.Literal('SYMMETRIC_DEFAULT'),
  Type.Literal('RSAES_OAEP_SHA_1'),
  Type.Literal('RSAES_OAEP_SHA_256'),
  Type.Literal('SM2PKE'),
]);
type EncryptionAlgorithm = Static<typeof EncryptionAlgorithm>;

/** Refuses what Coffer's face does not offer: Nitro enclave recipients. */
export function refuseRecipient(input: { Recipient?: unknown }): void {
  if (input.Recipient !== undefined)
    throw new AwsError(
      'UnsupportedOperationException',
      'Coffer does not support Recipient (Nitro Enclaves).',
    );
}

/** AWS's DryRun answer once every check passed. */
export function dryRun(input: { DryRun?: boolean | undefined }): void {
  if (input.DryRun)
    throw new AwsError(
      'DryRunOperationException',
      'The request would have succeeded, but the DryRun flag is set.',
      412,
    );
}

/**
 * The key a data key (or data key pair) request names, authorized for `kms.generate_data_key` or
 * through a grant of the request's operation (its encryption context checked against the grant).
 */
export function dataKeyKey(
  call: AwsCall,
  app: App,
  input: { KeyId: string; EncryptionContext?: EncryptionContext | undefined },
  grant: GrantOperation,
): Promise<CryptoKey> {
  return authorizedKey(call, app, input.KeyId, {
    permission: 'kms.generate_data_key',
    grant,
    context: input.EncryptionContext,
  });
}

/**
 * The checks of a data key (or data key pair) request once its key is authorized and its own
 * members checked: no Recipient, an enabled symmetric encryption key, then DryRun.
 */
export function dataKeyChecks(
  call: AwsCall,
  key: CryptoKey,
  input: { Recipient?: unknown; DryRun?: boolean | undefined },
  operation: string,
): void {
  refuseRecipient(input);
  requireUsable(call, key, ['encrypt_decrypt'], operation);
  dryRun(input);
}

export const invalidCiphertext = () =>
  new AwsError(
    'InvalidCiphertextException',
    'The ciphertext is invalid, or was made under another key or encryption context.',
  );

/** The algorithm a request names for a key, checked against the key (AWS's errors). */
function algorithmFor(
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

const refOf = (key: CryptoKey) => ({
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
async function keyOfCiphertext(
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
async function decryptWith(
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
function encryptWith(
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

const Common = {
  EncryptionContext: Type.Optional(EncryptionContextField),
  GrantTokens: Type.Optional(GrantTokensField),
  DryRun: Type.Optional(Type.Boolean()),
};
const Recipient = Type.Optional(Type.Object({}, { additionalProperties: true }));

const GenerateDataKeyInput = Type.Object({
  KeyId: KeyIdField,
  NumberOfBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024 })),
  KeySpec: Type.Optional(Type.Union([Type.Literal('AES_256'), Type.Literal('AES_128')])),
  Recipient,
  ...Common,
});

async function generateDataKey(
  call: AwsCall,
  app: App,
  input: Static<typeof GenerateDataKeyInput>,
  withPlaintext: boolean,
) {
  const key = await dataKeyKey(
    call,
    app,
    input,
    withPlaintext ? 'GenerateDataKey' : 'GenerateDataKeyWithoutPlaintext',
  );
  if ((input.NumberOfBytes === undefined) === (input.KeySpec === undefined))
    throw new AwsError('ValidationException', 'Specify either KeySpec or NumberOfBytes, not both.');
  dataKeyChecks(call, key, input, 'GenerateDataKey');
  const bytes = input.NumberOfBytes ?? (input.KeySpec === 'AES_128' ? 16 : 32);
  const result = await app.kmsCrypto.generateDataKey(
    refOf(key),
    bytes,
    withPlaintext,
    encryptionContextAad(input.EncryptionContext),
  );
  call.auditDetails.keyVersion = result.keyVersion;
  return {
    CiphertextBlob: b64(result.ciphertext),
    ...(withPlaintext && result.plaintext ? { Plaintext: b64(result.plaintext) } : {}),
    KeyId: keyArn(call, key.id),
  };
}

/** Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext) and GenerateRandom. */
export function cryptoOperations(app: App): Record<string, AwsOperation> {
  return {
    Encrypt: awsOperation({
      input: Type.Object({
        KeyId: KeyIdField,
        Plaintext: Blob,
        EncryptionAlgorithm: Type.Optional(EncryptionAlgorithm),
        ...Common,
      }),
      changesState: false,
      handler: async (call, input) => {
        const key = await authorizedKey(call, app, input.KeyId, {
          permission: 'kms.encrypt',
          grant: 'Encrypt',
          context: input.EncryptionContext,
        });
        const plaintext = blobBytes(input.Plaintext, 'Plaintext', 1, 4096);
        requireUsable(call, key, ['encrypt_decrypt', 'decrypt'], 'Encrypt');
        const algorithm = algorithmFor(call, key, input.EncryptionAlgorithm, input.EncryptionContext);
        dryRun(input);
        const result = await encryptWith(app, key, plaintext, input.EncryptionContext, algorithm);
        call.auditDetails.keyVersion = result.keyVersion;
        return {
          CiphertextBlob: b64(result.ciphertext),
          KeyId: keyArn(call, key.id),
          EncryptionAlgorithm: algorithm,
        };
      },
    }),
    Decrypt: awsOperation({
      input: Type.Object({
        CiphertextBlob: Blob,
        KeyId: Type.Optional(KeyIdField),
        EncryptionAlgorithm: Type.Optional(EncryptionAlgorithm),
        Recipient,
        ...Common,
      }),
      changesState: false,
      handler: async (call, input) => {
        const blob = blobBytes(input.CiphertextBlob, 'CiphertextBlob', 1, 6144);
        const key = await keyOfCiphertext(call, app, blob, input.KeyId, {
          permission: 'kms.decrypt',
          grant: 'Decrypt',
          context: input.EncryptionContext,
        });
        refuseRecipient(input);
        requireUsable(call, key, ['encrypt_decrypt', 'decrypt'], 'Decrypt');
        const algorithm = algorithmFor(call, key, input.EncryptionAlgorithm, input.EncryptionContext);
        dryRun(input);
        const result = await decryptWith(app, key, blob, input.EncryptionContext, algorithm);
        call.auditDetails.keyVersion = result.keyVersion;
        return {
          KeyId: keyArn(call, key.id),
          Plaintext: b64(result.plaintext),
          EncryptionAlgorithm: algorithm,
        };
      },
    }),
    ReEncrypt: awsOperation({
      input: Type.Object({
        CiphertextBlob: Blob,
        SourceEncryptionContext: Type.Optional(EncryptionContextField),
        SourceKeyId: Type.Optional(KeyIdField),
        DestinationKeyId: KeyIdField,
        DestinationEncryptionContext: Type.Optional(EncryptionContextField),
        SourceEncryptionAlgorithm: Type.Optional(EncryptionAlgorithm),
        DestinationEncryptionAlgorithm: Type.Optional(EncryptionAlgorithm),
        GrantTokens: Type.Optional(GrantTokensField),
        DryRun: Type.Optional(Type.Boolean()),
      }),
      changesState: false,
      handler: async (call, input) => {
        const blob = blobBytes(input.CiphertextBlob, 'CiphertextBlob', 1, 6144);
        const source = await keyOfCiphertext(call, app, blob, input.SourceKeyId, {
          permission: 'kms.rewrap',
          grant: 'ReEncryptFrom',
          context: input.SourceEncryptionContext,
        });
        const destination = await authorizedKey(call, app, input.DestinationKeyId, {
          permission: 'kms.rewrap',
          grant: 'ReEncryptTo',
          context: input.DestinationEncryptionContext,
        });
        requireEnabled(call, source);
        requireEnabled(call, destination);
        requireUsage(call, source, ['encrypt_decrypt', 'decrypt'], 'ReEncrypt');
        requireUsage(call, destination, ['encrypt_decrypt', 'decrypt'], 'ReEncrypt');
        const sourceAlgorithm = algorithmFor(
          call,
          source,
          input.SourceEncryptionAlgorithm,
          input.SourceEncryptionContext,
        );
        const destinationAlgorithm = algorithmFor(
          call,
          destination,
          input.DestinationEncryptionAlgorithm,
          input.DestinationEncryptionContext,
        );
        dryRun(input);
        const { plaintext, keyVersion: from } = await decryptWith(
          app,
          source,
          blob,
          input.SourceEncryptionContext,
          sourceAlgorithm,
        );
        try {
          const result = await encryptWith(
            app,
            destination,
            plaintext,
            input.DestinationEncryptionContext,
            destinationAlgorithm,
          );
          Object.assign(call.auditDetails, {
            sourceKeyVersion: from,
            keyVersion: result.keyVersion,
            destinationKeyId: destination.id,
          });
          return {
            CiphertextBlob: b64(result.ciphertext),
            SourceKeyId: keyArn(call, source.id),
            KeyId: keyArn(call, destination.id),
            SourceEncryptionAlgorithm: sourceAlgorithm,
            DestinationEncryptionAlgorithm: destinationAlgorithm,
          };
        } finally {
          plaintext.fill(0);
        }
      },
    }),
    GenerateDataKey: awsOperation({
      input: GenerateDataKeyInput,
      changesState: false,
      handler: (call, input) => generateDataKey(call, app, input, true),
    }),
    GenerateDataKeyWithoutPlaintext: awsOperation({
      input: Type.Object({
        KeyId: KeyIdField,
        NumberOfBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024 })),
        KeySpec: Type.Optional(Type.Union([Type.Literal('AES_256'), Type.Literal('AES_128')])),
        ...Common,
      }),
      changesState: false,
      handler: (call, input) => generateDataKey(call, app, input, false),
    }),
    GenerateRandom: awsOperation({
      input: Type.Object({
        NumberOfBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024 })),
        CustomKeyStoreId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        Recipient,
      }),
      changesState: false,
      handler: async (call, input) => {
        await call.authorize('kms.generate_data_key', `projects/${call.projectId}/regions/${call.regionId}`);
        await app.projects.requireFeature(call.projectId, 'kms');
        if (input.CustomKeyStoreId !== undefined)
          throw new AwsError('CustomKeyStoreNotFoundException', 'Coffer has no custom key stores.');
        refuseRecipient(input);
        if (input.NumberOfBytes === undefined)
          throw new AwsError('ValidationException', 'NumberOfBytes is required.');
        return { Plaintext: b64(randomBytes(input.NumberOfBytes)) };
      },
    }),
  };
}
