import { createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import {
  type AeadAlgorithm,
  aeadDecrypt,
  aeadEncryptAfter,
  aeadKeyBytes,
  nonceBytes,
  tagBytes,
} from './aead.ts';
import { EnvelopeError } from './envelope.ts';
import { randomBytesPooled } from './random-pool.ts';

/**
 * KMS symmetric ciphertext, format version 2. Nonce safety (NIST SP 800-38D): a random 96-bit nonce
 * may be used at most 2^32 times under one AES-GCM key. Rather than count encryptions, every
 * encryption derives a fresh key from the version's material with HKDF-SHA256 and a random 128-bit
 * salt carried in the ciphertext (as AWS KMS does), so no key ever sees more than one nonce.
 *
 *   offset  size  field
 *   0       1     format version (2)
 *   1       1     algorithm id (1 aes-256-gcm, 2 aes-128-gcm, 3 chacha20-poly1305)
 *   2       16    key id (a UUID, binary)
 *   18      4     key version (uint32, big-endian)
 *   22      16    HKDF salt
 *   38      12    nonce
 *   50      n+16  ciphertext ‖ tag
 *
 * The AEAD's additional data is the 50-byte header followed by the caller's AAD.
 */
export const kmsCiphertextFormat = 2;
/** Bytes before the ciphertext body. */
export const kmsHeaderBytes = 50;
const saltBytes = 16;

const algorithmIds: Record<AeadAlgorithm, number> = {
  'aes-256-gcm': 1,
  'aes-128-gcm': 2,
  'chacha20-poly1305': 3,
};
const algorithmById = new Map<number, AeadAlgorithm>(
  Object.entries(algorithmIds).map(([name, id]) => [id, name as AeadAlgorithm]),
);

/** The key id and version a KMS ciphertext names. */
export interface KmsCiphertextHeader {
  readonly algorithm: AeadAlgorithm;
  readonly keyId: string;
  readonly keyVersion: number;
}

/** A key version able to encrypt: identity, algorithm and material. */
export interface KmsSymmetricKey {
  readonly keyId: string;
  readonly version: number;
  readonly algorithm: AeadAlgorithm;
  /** The version's material (HKDF input keying material). */
  readonly material: KeyObject;
}

/** Per key version: the HKDF info and the key id's 16 bytes, made once per material KeyObject. */
interface VersionConstants {
  readonly keyId: string;
  readonly version: number;
  readonly info: Buffer;
  readonly idBytes: Buffer;
}
const constants = new WeakMap<KeyObject, VersionConstants>();

function constantsOf(key: KmsSymmetricKey): VersionConstants {
  let found = constants.get(key.material);
  if (found === undefined || found.keyId !== key.keyId || found.version !== key.version) {
    found = {
      keyId: key.keyId,
      version: key.version,
      info: Buffer.from(`coffer/kms/v2/${key.keyId}/${key.version}`),
      idBytes: Buffer.from(key.keyId.replaceAll('-', ''), 'hex'),
    };
    constants.set(key.material, found);
  }
  return found;
}

function deriveKey(key: KmsSymmetricKey, salt: Uint8Array): KeyObject {
  const bits = hkdfSync('sha256', key.material, salt, constantsOf(key).info, aeadKeyBytes[key.algorithm]);
  return createSecretKey(new Uint8Array(bits));
}

/** Derives the per-message key (exposed for known-answer tests). */
export function deriveMessageKey(key: KmsSymmetricKey, salt: Uint8Array): KeyObject {
  return deriveKey(key, salt);
}

/** Encrypts `plaintext` under `key` with optional `aad`. */
export function kmsEncrypt(key: KmsSymmetricKey, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const head = Buffer.allocUnsafe(kmsHeaderBytes);
  head[0] = kmsCiphertextFormat;
  head[1] = algorithmIds[key.algorithm];
  constantsOf(key).idBytes.copy(head, 2);
  head.writeUInt32BE(key.version, 18);
  // Salt and nonce in one draw from the pool, in place (offsets 22–49).
  randomBytesPooled(saltBytes + nonceBytes).copy(head, 22);
  const salt = head.subarray(22, 38);
  const nonce = head.subarray(38, kmsHeaderBytes);
  return aeadEncryptAfter(
    head,
    key.algorithm,
    deriveKey(key, salt),
    nonce,
    plaintext,
    aad.length === 0 ? head : Buffer.concat([head, aad]),
  );
}

/** Reads which key and version a ciphertext names; EnvelopeError when it is not a KMS ciphertext. */
export function readKmsHeader(ciphertext: Uint8Array): KmsCiphertextHeader {
  const bytes = Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength);
  if (bytes.length < kmsHeaderBytes + tagBytes || bytes[0] !== kmsCiphertextFormat) throw new EnvelopeError();
  const algorithm = algorithmById.get(bytes[1]!);
  if (!algorithm) throw new EnvelopeError();
  const hex = bytes.subarray(2, 18).toString('hex');
  const keyId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { algorithm, keyId, keyVersion: bytes.readUInt32BE(18) };
}

/** Decrypts a ciphertext made by `kmsEncrypt` with the same key version and AAD; EnvelopeError otherwise. */
export function kmsDecrypt(key: KmsSymmetricKey, ciphertext: Uint8Array, aad: Uint8Array): Buffer {
  const header = readKmsHeader(ciphertext);
  if (header.keyId !== key.keyId || header.keyVersion !== key.version || header.algorithm !== key.algorithm) {
    throw new EnvelopeError();
  }
  const bytes = Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength);
  const head = bytes.subarray(0, kmsHeaderBytes);
  try {
    return aeadDecrypt(
      key.algorithm,
      deriveKey(key, bytes.subarray(22, 38)),
      bytes.subarray(38, kmsHeaderBytes),
      bytes.subarray(kmsHeaderBytes),
      aad.length === 0 ? head : Buffer.concat([head, aad]),
    );
  } catch {
    throw new EnvelopeError();
  }
}
