import {
  constants,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPair,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  sign,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import { promisify } from 'node:util';
import { p256, p384 } from '@noble/curves/nist.js';
import type { KmsAlgorithm, KmsPurpose } from '../core/kms-algorithm-names.ts';
import type { AeadAlgorithm } from './aead.ts';
import { rsaPssSignDigest, rsaPssVerifyDigest } from './rsa-pss-digest.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

export { type KmsAlgorithm, type KmsPurpose, kmsAlgorithms } from '../core/kms-algorithm-names.ts';

/** The family of an algorithm, which decides how material is stored and used. */
export type AlgorithmFamily = 'symmetric' | 'rsa' | 'ecdsa' | 'ed25519' | 'hmac';

/** Facts about one algorithm. */
export interface AlgorithmInfo {
  readonly family: AlgorithmFamily;
  /** Purposes allowed; the first is the default. */
  readonly purposes: readonly KmsPurpose[];
  /** The AEAD cipher of a symmetric algorithm. */
  readonly aead?: AeadAlgorithm;
  /** Secret length of symmetric and HMAC keys, in bytes. */
  readonly secretBytes?: number;
  /** RSA modulus bits. */
  readonly modulusBits?: number;
  /** Digest of signatures and HMACs. */
  readonly hash?: 'sha256' | 'sha384' | 'sha512';
}

/** The algorithm table. */
export const algorithmInfo: Record<KmsAlgorithm, AlgorithmInfo> = {
  'aes128-gcm96': {
    family: 'symmetric',
    purposes: ['encrypt_decrypt'],
    aead: 'aes-128-gcm',
    secretBytes: 16,
  },
  'aes256-gcm96': {
    family: 'symmetric',
    purposes: ['encrypt_decrypt'],
    aead: 'aes-256-gcm',
    secretBytes: 32,
  },
  'chacha20-poly1305': {
    family: 'symmetric',
    purposes: ['encrypt_decrypt'],
    aead: 'chacha20-poly1305',
    secretBytes: 32,
  },
  'rsa-2048': { family: 'rsa', purposes: ['sign_verify', 'decrypt'], modulusBits: 2048, hash: 'sha256' },
  'rsa-3072': { family: 'rsa', purposes: ['sign_verify', 'decrypt'], modulusBits: 3072, hash: 'sha256' },
  'rsa-4096': { family: 'rsa', purposes: ['sign_verify', 'decrypt'], modulusBits: 4096, hash: 'sha256' },
  'ecdsa-p256': { family: 'ecdsa', purposes: ['sign_verify'], hash: 'sha256' },
  'ecdsa-p384': { family: 'ecdsa', purposes: ['sign_verify'], hash: 'sha384' },
  ed25519: { family: 'ed25519', purposes: ['sign_verify'] },
  'hmac-sha256': { family: 'hmac', purposes: ['mac'], secretBytes: 32, hash: 'sha256' },
  'hmac-sha512': { family: 'hmac', purposes: ['mac'], secretBytes: 64, hash: 'sha512' },
};

/** New key material: secret bytes, or a PKCS#8 DER private key with its public key PEM. */
export interface GeneratedMaterial {
  /** What is stored (wrapped by the root key): raw secret, or PKCS#8 DER. */
  readonly material: Buffer;
  /** SubjectPublicKeyInfo PEM of asymmetric keys. */
  readonly publicKeyPem?: string;
}

/** Generates material for `algorithm` (RSA off the event loop, in libuv's thread pool). */
export async function generateMaterial(algorithm: KmsAlgorithm): Promise<GeneratedMaterial> {
  const info = algorithmInfo[algorithm];
  if (info.secretBytes !== undefined) return { material: randomBytes(info.secretBytes) };
  let pair: { privateKey: KeyObject; publicKey: KeyObject };
  if (info.family === 'rsa') pair = await generateKeyPairAsync('rsa', { modulusLength: info.modulusBits! });
  else if (info.family === 'ecdsa') {
    pair = await generateKeyPairAsync('ec', { namedCurve: algorithm === 'ecdsa-p256' ? 'P-256' : 'P-384' });
  } else pair = await generateKeyPairAsync('ed25519');
  return {
    material: pair.privateKey.export({ format: 'der', type: 'pkcs8' }),
    publicKeyPem: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/** Loads stored material as a KeyObject (secret key, or private key). */
export function loadMaterial(algorithm: KmsAlgorithm, material: Buffer): KeyObject {
  const info = algorithmInfo[algorithm];
  if (info.secretBytes !== undefined) return createSecretKey(material);
  return createPrivateKey({ key: material, format: 'der', type: 'pkcs8' });
}

/** The public key of a private KeyObject. */
export function publicKeyOf(privateKey: KeyObject): KeyObject {
  return createPublicKey(privateKey);
}

/** Sign input: a message, or a digest computed by the caller. */
export type SignInput = { readonly data: Buffer } | { readonly digest: Buffer };

/** Expected digest length of a signing algorithm, in bytes. */
export function digestBytes(algorithm: KmsAlgorithm): number | undefined {
  const hash = algorithmInfo[algorithm].hash;
  return hash === 'sha256' ? 32 : hash === 'sha384' ? 48 : hash === 'sha512' ? 64 : undefined;
}

const pssOptions = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };

function nobleCurve(algorithm: KmsAlgorithm) {
  return algorithm === 'ecdsa-p256' ? p256 : p384;
}

function ecPrivateScalar(privateKey: KeyObject): Uint8Array {
  const jwk = privateKey.export({ format: 'jwk' });
  return Buffer.from(jwk.d!, 'base64url');
}

/** Signs with an asymmetric signing key: RSA-PSS/SHA-256, ECDSA (DER), or Ed25519 (messages only). */
export function signWith(algorithm: KmsAlgorithm, privateKey: KeyObject, input: SignInput): Buffer {
  const info = algorithmInfo[algorithm];
  if ('data' in input) {
    if (info.family === 'rsa') return sign('sha256', input.data, { key: privateKey, ...pssOptions });
    if (info.family === 'ecdsa') return sign(info.hash!, input.data, { key: privateKey, dsaEncoding: 'der' });
    return sign(null, input.data, privateKey);
  }
  if (info.family === 'rsa') return rsaPssSignDigest(privateKey, input.digest);
  if (info.family === 'ecdsa') {
    const signature = nobleCurve(algorithm).sign(input.digest, ecPrivateScalar(privateKey), {
      prehash: false,
      format: 'der',
    });
    return Buffer.from(signature);
  }
  throw new RangeError(`${algorithm} signs messages, not digests`);
}

/** Verifies a signature made by `signWith` (or by any standard implementation of the same scheme). */
export function verifyWith(
  algorithm: KmsAlgorithm,
  publicKey: KeyObject,
  input: SignInput,
  signature: Buffer,
): boolean {
  const info = algorithmInfo[algorithm];
  try {
    if ('data' in input) {
      if (info.family === 'rsa')
        return verify('sha256', input.data, { key: publicKey, ...pssOptions }, signature);
      if (info.family === 'ecdsa')
        return verify(info.hash!, input.data, { key: publicKey, dsaEncoding: 'der' }, signature);
      return verify(null, input.data, publicKey, signature);
    }
    if (info.family === 'rsa') return rsaPssVerifyDigest(publicKey, input.digest, signature);
    if (info.family === 'ecdsa') {
      const raw = publicKey.export({ format: 'der', type: 'spki' });
      const curve = nobleCurve(algorithm);
      const point = raw.subarray(raw.length - (algorithm === 'ecdsa-p256' ? 65 : 97));
      return curve.verify(signature, input.digest, point, { prehash: false, format: 'der', lowS: false });
    }
  } catch {
    return false;
  }
  return false;
}

/** RSAES-OAEP (SHA-256) encryption with the public key. */
export function rsaOaepEncrypt(publicKey: KeyObject, plaintext: Buffer): Buffer {
  return publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    plaintext,
  );
}

/** RSAES-OAEP (SHA-256) decryption; throws on a bad ciphertext. */
export function rsaOaepDecrypt(privateKey: KeyObject, ciphertext: Buffer): Buffer {
  return privateDecrypt(
    { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    ciphertext,
  );
}

/** Largest plaintext RSA-OAEP/SHA-256 can take for a modulus. */
export function rsaOaepMaxPlaintext(modulusBits: number): number {
  return modulusBits / 8 - 2 * 32 - 2;
}

/** HMAC of `data`. */
export function macWith(algorithm: KmsAlgorithm, key: KeyObject, data: Buffer): Buffer {
  return createHmac(algorithmInfo[algorithm].hash!, key).update(data).digest();
}

/** Constant-time HMAC check. */
export function verifyMacWith(algorithm: KmsAlgorithm, key: KeyObject, data: Buffer, mac: Buffer): boolean {
  const expected = macWith(algorithm, key, data);
  return expected.length === mac.length && timingSafeEqual(expected, mac);
}

/** SHA digest helper for tests and callers. */
export function digestOf(hash: 'sha256' | 'sha384' | 'sha512', data: Buffer): Buffer {
  return createHash(hash).update(data).digest();
}
