import { createPublicKey } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import { digestBytes } from '../../crypto/kms-algorithms.ts';
import { schemeDigestBytes } from '../../crypto/rsa-schemes.ts';
import { type DataKeyPairSpec, dataKeyPairSpecs, generateDataKeyPair } from '../../kms/data-key-pairs.ts';
import { encryptionContextAad } from '../../kms/kms-grant-fns.ts';
import type { CryptoKey } from '../../kms/kms-types.ts';
import { AwsError } from '../aws-errors.ts';
import { type AwsCall, type AwsOperation, awsOperation } from '../aws-operation.ts';
import { authorizedKey, requireEnabled, requireUsable, requireUsage } from './key-access.ts';
import { dataKeyChecks, dataKeyKey, dryRun } from './crypto-ops.ts';
import {
  b64,
  Blob,
  blobBytes,
  EncryptionContextField,
  encryptionAlgorithmsOf,
  GrantTokensField,
  KeyIdField,
  keyArn,
  keySpecOf,
  keyUsageOf,
  macAlgorithmsOf,
  rsaSchemeOf,
  signingAlgorithmsOf,
} from './kms-shapes.ts';

const refOf = (key: CryptoKey) => ({
  projectId: key.projectId,
  regionId: key.regionId,
  keyRingId: key.keyRingId,
  keyId: key.id,
});

/** Signing algorithms AWS allows per key family (those Coffer lacks are UnsupportedOperationException). */
const awsSigningAlgorithms: Record<string, readonly string[]> = {
  rsa: [
    'RSASSA_PSS_SHA_256',
    'RSASSA_PSS_SHA_384',
    'RSASSA_PSS_SHA_512',
    'RSASSA_PKCS1_V1_5_SHA_256',
    'RSASSA_PKCS1_V1_5_SHA_384',
    'RSASSA_PKCS1_V1_5_SHA_512',
  ],
  'ecdsa-p256': ['ECDSA_SHA_256'],
  'ecdsa-p384': ['ECDSA_SHA_384'],
  ed25519: ['ED25519_SHA_512', 'ED25519_PH_SHA_512'],
};

const SignInput = Type.Object({
  KeyId: KeyIdField,
  Message: Blob,
  MessageType: Type.Optional(
    Type.Union([Type.Literal('RAW'), Type.Literal('DIGEST'), Type.Literal('EXTERNAL_MU')]),
  ),
  SigningAlgorithm: Type.String({ minLength: 1, maxLength: 64 }),
  GrantTokens: Type.Optional(GrantTokensField),
  DryRun: Type.Optional(Type.Boolean()),
});

/** The sign input of a Sign or Verify request, checked against the key (AWS's errors). */
function signInput(call: AwsCall, key: CryptoKey, input: Static<typeof SignInput>) {
  requireUsage(call, key, ['sign_verify'], call.operation);
  const family = key.algorithm.startsWith('rsa') ? 'rsa' : key.algorithm;
  if (!(awsSigningAlgorithms[family] ?? []).includes(input.SigningAlgorithm))
    throw new AwsError(
      'InvalidKeyUsageException',
      `${input.SigningAlgorithm} is not valid for ${keyArn(call, key.id)}.`,
    );
  if (!signingAlgorithmsOf(key)!.includes(input.SigningAlgorithm))
    throw new AwsError(
      'UnsupportedOperationException',
      `Coffer signs with ${signingAlgorithmsOf(key)!.join(', ')} for this key, not ${input.SigningAlgorithm}.`,
    );
  const message = blobBytes(input.Message, 'Message', 1, 4096);
  const type = input.MessageType ?? 'RAW';
  if (type === 'EXTERNAL_MU')
    throw new AwsError('ValidationException', 'MessageType EXTERNAL_MU is for ML-DSA keys.');
  if (type === 'RAW') return { data: message };
  const scheme = rsaSchemeOf(input.SigningAlgorithm);
  const expected = scheme ? schemeDigestBytes(scheme) : digestBytes(key.algorithm);
  if (expected === undefined)
    throw new AwsError(
      'ValidationException',
      `${input.SigningAlgorithm} signs messages: use MessageType RAW.`,
    );
  if (message.length !== expected)
    throw new AwsError(
      'ValidationException',
      `Digest is invalid length for algorithm ${input.SigningAlgorithm}.`,
    );
  return { digest: message };
}

const MacInput = {
  KeyId: KeyIdField,
  Message: Blob,
  MacAlgorithm: Type.Union([
    Type.Literal('HMAC_SHA_224'),
    Type.Literal('HMAC_SHA_256'),
    Type.Literal('HMAC_SHA_384'),
    Type.Literal('HMAC_SHA_512'),
  ]),
  GrantTokens: Type.Optional(GrantTokensField),
  DryRun: Type.Optional(Type.Boolean()),
};

function macKeyChecks(call: AwsCall, key: CryptoKey, algorithm: string): void {
  requireUsable(call, key, ['mac'], call.operation);
  if (!macAlgorithmsOf(key)!.includes(algorithm))
    throw new AwsError(
      'InvalidKeyUsageException',
      `Algorithm ${algorithm} is incompatible with key spec ${keySpecOf[key.algorithm]}.`,
    );
}

const KeyPairInput = Type.Object({
  KeyId: KeyIdField,
  KeyPairSpec: Type.String({ minLength: 1, maxLength: 32 }),
  EncryptionContext: Type.Optional(EncryptionContextField),
  GrantTokens: Type.Optional(GrantTokensField),
  Recipient: Type.Optional(Type.Object({}, { additionalProperties: true })),
  DryRun: Type.Optional(Type.Boolean()),
});

async function dataKeyPair(
  call: AwsCall,
  app: App,
  input: Static<typeof KeyPairInput>,
  withPlaintext: boolean,
) {
  const key = await dataKeyKey(
    call,
    app,
    input,
    withPlaintext ? 'GenerateDataKeyPair' : 'GenerateDataKeyPairWithoutPlaintext',
  );
  if (!Object.hasOwn(dataKeyPairSpecs, input.KeyPairSpec))
    throw new AwsError(
      input.KeyPairSpec === 'SM2' ? 'UnsupportedOperationException' : 'ValidationException',
      `KeyPairSpec ${input.KeyPairSpec} is not supported.`,
    );
  dataKeyChecks(call, key, input, 'GenerateDataKeyPair');
  const pair = await generateDataKeyPair(input.KeyPairSpec as DataKeyPairSpec);
  try {
    const sealed = await app.kmsCrypto.encryptWithKey(
      key,
      pair.privateKey,
      encryptionContextAad(input.EncryptionContext),
    );
    call.auditDetails.keyVersion = sealed.keyVersion;
    return {
      PrivateKeyCiphertextBlob: b64(sealed.ciphertext),
      ...(withPlaintext ? { PrivateKeyPlaintext: b64(pair.privateKey) } : {}),
      PublicKey: b64(pair.publicKey),
      KeyId: keyArn(call, key.id),
      KeyPairSpec: input.KeyPairSpec,
    };
  } finally {
    pair.privateKey.fill(0);
  }
}

/** Data key pairs, Sign, Verify, GetPublicKey, GenerateMac and VerifyMac. */
export function asymmetricOperations(app: App): Record<string, AwsOperation> {
  return {
    GenerateDataKeyPair: awsOperation({
      input: KeyPairInput,
      changesState: false,
      handler: (call, input) => dataKeyPair(call, app, input, true),
    }),
    GenerateDataKeyPairWithoutPlaintext: awsOperation({
      input: KeyPairInput,
      changesState: false,
      handler: (call, input) => dataKeyPair(call, app, input, false),
    }),
    Sign: awsOperation({
      input: SignInput,
      changesState: false,
      handler: async (call, input) => {
        const key = await authorizedKey(call, app, input.KeyId, { permission: 'kms.sign', grant: 'Sign' });
        requireEnabled(call, key);
        const signable = signInput(call, key, input);
        dryRun(input);
        const scheme = rsaSchemeOf(input.SigningAlgorithm);
        const result = scheme
          ? await app.kmsCrypto.signRsa(refOf(key), scheme, signable)
          : await app.kmsCrypto.sign(refOf(key), signable);
        call.auditDetails.keyVersion = result.keyVersion;
        return {
          KeyId: keyArn(call, key.id),
          Signature: b64(result.signature),
          SigningAlgorithm: input.SigningAlgorithm,
        };
      },
    }),
    Verify: awsOperation({
      input: Type.Object({ ...SignInput.properties, Signature: Blob }),
      changesState: false,
      handler: async (call, input) => {
        const key = await authorizedKey(call, app, input.KeyId, {
          permission: 'kms.verify',
          grant: 'Verify',
        });
        requireEnabled(call, key);
        const signable = signInput(call, key, input);
        const signature = blobBytes(input.Signature, 'Signature', 1, 6144);
        dryRun(input);
        const scheme = rsaSchemeOf(input.SigningAlgorithm);
        const result = scheme
          ? await app.kmsCrypto.verifyRsa(refOf(key), scheme, signable, signature)
          : await app.kmsCrypto.verify(refOf(key), signable, signature);
        call.auditDetails.keyVersion = result.keyVersion;
        if (!result.valid) throw new AwsError('KMSInvalidSignatureException', 'The signature is not valid.');
        return {
          KeyId: keyArn(call, key.id),
          SignatureValid: true,
          SigningAlgorithm: input.SigningAlgorithm,
        };
      },
    }),
    GetPublicKey: awsOperation({
      input: Type.Object({ KeyId: KeyIdField, GrantTokens: Type.Optional(GrantTokensField) }),
      changesState: false,
      handler: async (call, input) => {
        const key = await authorizedKey(call, app, input.KeyId, {
          permission: 'kms.key_versions.get_public_key',
          grant: 'GetPublicKey',
        });
        if (key.purpose === 'encrypt_decrypt' || key.purpose === 'mac')
          throw new AwsError(
            'UnsupportedOperationException',
            `${keyArn(call, key.id)} is not an asymmetric key: it has no public key.`,
          );
        requireEnabled(call, key);
        const { pem } = await app.kmsCrypto.publicKey(refOf(key), key.primaryVersion);
        const der = createPublicKey(pem).export({ format: 'der', type: 'spki' });
        const encryption = encryptionAlgorithmsOf(key);
        const signing = signingAlgorithmsOf(key);
        return {
          KeyId: keyArn(call, key.id),
          PublicKey: b64(der),
          CustomerMasterKeySpec: keySpecOf[key.algorithm],
          KeySpec: keySpecOf[key.algorithm],
          KeyUsage: keyUsageOf(key.purpose),
          ...(encryption ? { EncryptionAlgorithms: encryption } : {}),
          ...(signing ? { SigningAlgorithms: signing } : {}),
        };
      },
    }),
    GenerateMac: awsOperation({
      input: Type.Object(MacInput),
      changesState: false,
      handler: async (call, input) => {
        const key = await authorizedKey(call, app, input.KeyId, {
          permission: 'kms.mac',
          grant: 'GenerateMac',
        });
        macKeyChecks(call, key, input.MacAlgorithm);
        const message = blobBytes(input.Message, 'Message', 1, 4096);
        dryRun(input);
        const result = await app.kmsCrypto.mac(refOf(key), message);
        call.auditDetails.keyVersion = result.keyVersion;
        return { Mac: b64(result.mac), MacAlgorithm: input.MacAlgorithm, KeyId: keyArn(call, key.id) };
      },
    }),
    VerifyMac: awsOperation({
      input: Type.Object({ ...MacInput, Mac: Blob }),
      changesState: false,
      handler: async (call, input) => {
        const key = await authorizedKey(call, app, input.KeyId, {
          permission: 'kms.verify_mac',
          grant: 'VerifyMac',
        });
        macKeyChecks(call, key, input.MacAlgorithm);
        const message = blobBytes(input.Message, 'Message', 1, 4096);
        const mac = blobBytes(input.Mac, 'Mac', 1, 6144);
        dryRun(input);
        const result = await app.kmsCrypto.verifyMac(refOf(key), message, mac);
        call.auditDetails.keyVersion = result.keyVersion;
        if (!result.valid) throw new AwsError('KMSInvalidMacException', 'The MAC is not valid.');
        return { KeyId: keyArn(call, key.id), MacValid: true, MacAlgorithm: input.MacAlgorithm };
      },
    }),
  };
}
