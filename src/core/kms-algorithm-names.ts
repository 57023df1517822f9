/** The KMS key algorithms (SPEC §5); shared by the API schemas, the SDK and the crypto module. */
export const kmsAlgorithms = [
  'aes128-gcm96',
  'aes256-gcm96',
  'chacha20-poly1305',
  'rsa-2048',
  'rsa-3072',
  'rsa-4096',
  'ecdsa-p256',
  'ecdsa-p384',
  'ed25519',
  'hmac-sha256',
  'hmac-sha512',
] as const;

/** A KMS key algorithm. */
export type KmsAlgorithm = (typeof kmsAlgorithms)[number];

/** What a key is for. */
export const kmsPurposes = ['encrypt_decrypt', 'sign_verify', 'decrypt', 'mac'] as const;

/** A key purpose. */
export type KmsPurpose = (typeof kmsPurposes)[number];
