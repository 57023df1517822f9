import {
  constants,
  type KeyObject,
  privateDecrypt,
  privateEncrypt,
  publicDecrypt,
  publicEncrypt,
  sign,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import type { SignInput } from './kms-algorithms.ts';
import { rsaPssSignDigest, rsaPssVerifyDigest } from './rsa-pss-digest.ts';

/** An RSA signature scheme beyond the default (PSS, SHA-256): what AWS's signing algorithm names ask. */
export interface RsaSignScheme {
  readonly padding: 'pss' | 'pkcs1';
  readonly hash: 'sha256' | 'sha384' | 'sha512';
}

/** Digest length of a scheme's hash, in bytes. */
export function schemeDigestBytes(scheme: RsaSignScheme): number {
  return scheme.hash === 'sha256' ? 32 : scheme.hash === 'sha384' ? 48 : 64;
}

// DER of the DigestInfo before the digest (RFC 8017 §9.2, note 1).
const digestInfoPrefix: Record<RsaSignScheme['hash'], Buffer> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

function options(key: KeyObject, scheme: RsaSignScheme) {
  return scheme.padding === 'pss'
    ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: schemeDigestBytes(scheme) }
    : { key, padding: constants.RSA_PKCS1_PADDING };
}

/**
 * Signs with an RSA private key under `scheme`: messages with any scheme; digests with PKCS#1 v1.5
 * (DigestInfo ‖ digest, RSASSA-PKCS1-v1_5 as RFC 8017 §8.2) or PSS (EMSA-PSS encoded here, salt as
 * long as the digest).
 */
export function rsaSignWithScheme(privateKey: KeyObject, scheme: RsaSignScheme, input: SignInput): Buffer {
  if ('data' in input) return sign(scheme.hash, input.data, options(privateKey, scheme));
  if (scheme.padding === 'pkcs1')
    return privateEncrypt(
      { key: privateKey, padding: constants.RSA_PKCS1_PADDING },
      Buffer.concat([digestInfoPrefix[scheme.hash], input.digest]),
    );
  return rsaPssSignDigest(privateKey, input.digest, scheme.hash);
}

/** Verifies a signature made under `scheme` (false on any mismatch or malformed signature). */
export function rsaVerifyWithScheme(
  publicKey: KeyObject,
  scheme: RsaSignScheme,
  input: SignInput,
  signature: Buffer,
): boolean {
  try {
    if ('data' in input) return verify(scheme.hash, input.data, options(publicKey, scheme), signature);
    if (scheme.padding === 'pkcs1') {
      const expected = Buffer.concat([digestInfoPrefix[scheme.hash], input.digest]);
      const actual = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    }
    return rsaPssVerifyDigest(publicKey, input.digest, signature, scheme.hash);
  } catch {
    return false;
  }
}

/** RSAES-OAEP with SHA-1 or SHA-256 (MGF1 with the same hash), encryption with the public key. */
export function rsaOaepEncryptWith(publicKey: KeyObject, hash: 'sha1' | 'sha256', plaintext: Buffer): Buffer {
  return publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
    plaintext,
  );
}

/** RSAES-OAEP decryption with SHA-1 or SHA-256; throws on a bad ciphertext. */
export function rsaOaepDecryptWith(
  privateKey: KeyObject,
  hash: 'sha1' | 'sha256',
  ciphertext: Buffer,
): Buffer {
  return privateDecrypt(
    { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
    ciphertext,
  );
}

/** Largest plaintext RSA-OAEP takes for a modulus and hash. */
export function rsaOaepMaxPlaintextWith(modulusBits: number, hash: 'sha1' | 'sha256'): number {
  return modulusBits / 8 - 2 * (hash === 'sha1' ? 20 : 32) - 2;
}
