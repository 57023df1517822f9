import {
  constants,
  createHash,
  type KeyObject,
  privateEncrypt,
  publicDecrypt,
  timingSafeEqual,
} from 'node:crypto';
import { randomBytesPooled } from './random-pool.ts';

/**
 * RSASSA-PSS (RFC 8017 §8.1) over a digest the caller already computed (SHA-256, -384 or -512; MGF1
 * with the same hash; salt as long as the digest), as cloud KMSs accept. Node signs only messages, so
 * the EMSA-PSS encoding is done here and the RSA operation itself by OpenSSL (raw RSA via
 * RSA_NO_PADDING). Signatures verify with node:crypto's `verify(hash, message, {padding: PSS,
 * saltLength: digest length})` — the tests cross-check.
 */
export type PssHash = 'sha256' | 'sha384' | 'sha512';

const hashLength: Record<PssHash, number> = { sha256: 32, sha384: 48, sha512: 64 };

function digestOf(name: PssHash, ...parts: Uint8Array[]): Buffer {
  const hash = createHash(name);
  for (const part of parts) hash.update(part);
  return hash.digest();
}

function mgf1(name: PssHash, seed: Uint8Array, length: number): Buffer {
  const hashBytes = hashLength[name];
  const out = Buffer.alloc(length);
  const counter = Buffer.alloc(4);
  for (let offset = 0, i = 0; offset < length; i++, offset += hashBytes) {
    counter.writeUInt32BE(i);
    digestOf(name, seed, counter).copy(out, offset, 0, Math.min(hashBytes, length - offset));
  }
  return out;
}

function modulusBits(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (!bits) throw new TypeError('not an RSA key');
  return bits;
}

/** Signs a digest (32 bytes of SHA-256 unless `hash` says otherwise) with RSA-PSS. */
export function rsaPssSignDigest(
  privateKey: KeyObject,
  digest: Uint8Array,
  hash: PssHash = 'sha256',
): Buffer {
  const hashBytes = hashLength[hash];
  const saltBytes = hashBytes;
  if (digest.length !== hashBytes) throw new RangeError(`digest must be ${hashBytes} bytes (${hash})`);
  const modBits = modulusBits(privateKey);
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytesPooled(saltBytes);
  const h = digestOf(hash, Buffer.alloc(8), digest, salt);
  const db = Buffer.alloc(emLen - hashBytes - 1);
  db[emLen - saltBytes - hashBytes - 2] = 0x01;
  salt.copy(db, db.length - saltBytes);
  const mask = mgf1(hash, h, db.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const em = Buffer.concat([db, h, Buffer.from([0xbc])]);
  const k = Math.ceil(modBits / 8);
  const input = em.length < k ? Buffer.concat([Buffer.alloc(k - em.length), em]) : em;
  return privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, input);
}

/** Verifies an RSA-PSS signature over a digest (SHA-256 unless `hash` says otherwise). */
export function rsaPssVerifyDigest(
  publicKey: KeyObject,
  digest: Uint8Array,
  signature: Uint8Array,
  hash: PssHash = 'sha256',
): boolean {
  const hashBytes = hashLength[hash];
  const saltBytes = hashBytes;
  if (digest.length !== hashBytes) return false;
  const modBits = modulusBits(publicKey);
  const k = Math.ceil(modBits / 8);
  if (signature.length !== k) return false;
  let raw: Buffer;
  try {
    raw = publicDecrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, signature);
  } catch {
    return false;
  }
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  if (raw.length < emLen) return false;
  const leading = raw.subarray(0, raw.length - emLen);
  if (leading.some((byte) => byte !== 0)) return false;
  const em = raw.subarray(raw.length - emLen);
  if (em[emLen - 1] !== 0xbc) return false;
  const masked = em.subarray(0, emLen - hashBytes - 1);
  const h = em.subarray(emLen - hashBytes - 1, emLen - 1);
  const topMask = 0xff >> (8 * emLen - emBits);
  if ((masked[0]! & ~topMask) !== 0) return false;
  const db = mgf1(hash, h, masked.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= masked[i]!;
  db[0]! &= topMask;
  const separator = emLen - saltBytes - hashBytes - 2;
  for (let i = 0; i < separator; i++) if (db[i] !== 0) return false;
  if (db[separator] !== 0x01) return false;
  const salt = db.subarray(db.length - saltBytes);
  return timingSafeEqual(digestOf(hash, Buffer.alloc(8), digest, salt), h);
}
