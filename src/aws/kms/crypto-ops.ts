import { randomBytes } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import type { GrantOperation } from '../../kms/kms-extras-types.ts';
import { type EncryptionContext, encryptionContextAad } from '../../kms/kms-grant-fns.ts';
import type { CryptoKey } from '../../kms/kms-types.ts';
import { AwsError } from '../aws-errors.ts';
import { type AwsCall, type AwsOperation, awsOperation } from '../aws-operation.ts';
import { authorizedKey, requireEnabled, requireUsable, requireUsage } from './key-access.ts';
import {
  algorithmFor,
  decryptWith,
  EncryptionAlgorithm,
  encryptWith,
  keyOfCiphertext,
  refOf,
} from './key-crypto.ts';
import {
  b64,
  Blob,
  blobBytes,
  EncryptionContextField,
  GrantTokensField,
  KeyIdField,
  keyArn,
} from './kms-shapes.ts';

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
