import { type CipherGCMTypes, createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';

/** The AEAD ciphers Coffer uses, all with 96-bit nonces and 128-bit tags. */
export type AeadAlgorithm = 'aes-256-gcm' | 'aes-128-gcm' | 'chacha20-poly1305';

/** Key length in bytes of each AEAD algorithm. */
export const aeadKeyBytes: Record<AeadAlgorithm, number> = {
  'aes-256-gcm': 32,
  'aes-128-gcm': 16,
  'chacha20-poly1305': 32,
};

/** Nonce length (bytes) for every algorithm here. */
export const nonceBytes = 12;
/** Authentication tag length (bytes) for every algorithm here. */
export const tagBytes = 16;

/** Raised when a ciphertext does not authenticate; deliberately carries no detail (no oracle). */
export class AeadAuthenticationError extends Error {
  constructor() {
    super('ciphertext did not authenticate');
    this.name = 'AeadAuthenticationError';
  }
}

/**
 * Encrypts `plaintext` with `key` (a KeyObject: a raw Buffer key costs 4× more per call on Node 24)
 * and returns ciphertext‖tag. The caller supplies a fresh random nonce.
 */
export function aeadEncrypt(
  algorithm: AeadAlgorithm,
  key: KeyObject,
  nonce: Buffer,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Buffer {
  return aeadEncryptAfter(noPrefix, algorithm, key, nonce, plaintext, aad);
}

const noPrefix = new Uint8Array(0);

/**
 * `prefix`‖ciphertext‖tag in one buffer: `aeadEncrypt` for a caller that puts a header before the
 * sealed body (one allocation and copy fewer than concatenating the two afterwards).
 */
export function aeadEncryptAfter(
  prefix: Uint8Array,
  algorithm: AeadAlgorithm,
  key: KeyObject,
  nonce: Buffer,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Buffer {
  const cipher = createCipheriv(algorithm as CipherGCMTypes, key, nonce, { authTagLength: tagBytes });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  const out = Buffer.allocUnsafe(prefix.length + head.length + tail.length + tagBytes);
  out.set(prefix, 0);
  out.set(head, prefix.length);
  out.set(tail, prefix.length + head.length);
  out.set(cipher.getAuthTag(), prefix.length + head.length + tail.length);
  return out;
}

/** Decrypts ciphertext‖tag; throws AeadAuthenticationError when anything does not match. */
export function aeadDecrypt(
  algorithm: AeadAlgorithm,
  key: KeyObject,
  nonce: Buffer,
  sealed: Uint8Array,
  aad: Uint8Array,
): Buffer {
  if (sealed.length < tagBytes) throw new AeadAuthenticationError();
  const body = sealed.subarray(0, sealed.length - tagBytes);
  const tag = sealed.subarray(sealed.length - tagBytes);
  try {
    const decipher = createDecipheriv(algorithm as CipherGCMTypes, key, nonce, { authTagLength: tagBytes });
    decipher.setAAD(aad, { plaintextLength: body.length });
    decipher.setAuthTag(tag);
    const head = decipher.update(body);
    const tail = decipher.final();
    return Buffer.concat([head, tail]);
  } catch {
    throw new AeadAuthenticationError();
  }
}
