import type { KeyObject } from 'node:crypto';
import { type AeadAlgorithm, aeadDecrypt, aeadEncryptAfter, nonceBytes, tagBytes } from './aead.ts';
import { randomBytesPooled } from './random-pool.ts';

/**
 * Self-describing ciphertext, format version 1:
 *
 *   offset  size  field
 *   0       1     format version (1)
 *   1       1     algorithm id (1 aes-256-gcm, 2 aes-128-gcm, 3 chacha20-poly1305)
 *   2       16    key id (a UUID, binary)
 *   18      4     key version (uint32, big-endian)
 *   22      12    nonce
 *   34      n     ciphertext
 *   34+n    16    tag
 *
 * The AEAD's additional data is the 34-byte header followed by the caller's context (the identity of
 * the record the ciphertext protects), so neither the header nor the ciphertext's place can be
 * changed without decryption failing.
 */
export const envelopeFormatVersion = 1;
/** Bytes before the ciphertext. */
export const envelopeHeaderBytes = 34;

const algorithmIds: Record<AeadAlgorithm, number> = {
  'aes-256-gcm': 1,
  'aes-128-gcm': 2,
  'chacha20-poly1305': 3,
};
const algorithmById = new Map<number, AeadAlgorithm>(
  Object.entries(algorithmIds).map(([name, id]) => [id, name as AeadAlgorithm]),
);

/** A key that can seal envelopes: its identity, version, algorithm and material. */
export interface EnvelopeKey {
  /** The key's UUID. */
  readonly id: string;
  /** The key version (1, 2, …). */
  readonly version: number;
  /** The AEAD algorithm the material is for. */
  readonly algorithm: AeadAlgorithm;
  /** The material as a KeyObject (never a raw Buffer on a hot path). */
  readonly material: KeyObject;
}

/** What the header of a ciphertext says. */
export interface EnvelopeHeader {
  /** Format version. */
  readonly formatVersion: number;
  /** The algorithm. */
  readonly algorithm: AeadAlgorithm;
  /** The key UUID. */
  readonly keyId: string;
  /** The key version. */
  readonly keyVersion: number;
}

/** A ciphertext that is malformed or does not authenticate; one generic message, no oracle. */
export class EnvelopeError extends Error {
  constructor() {
    super('The ciphertext is invalid or does not match the key and context.');
    this.name = 'EnvelopeError';
  }
}

function uuidToBytes(uuid: string): Buffer {
  const hex = uuid.replaceAll('-', '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError('key id must be a UUID');
  return Buffer.from(hex, 'hex');
}

function bytesToUuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function header(key: EnvelopeKey, nonce: Buffer): Buffer {
  const out = Buffer.allocUnsafe(envelopeHeaderBytes);
  out[0] = envelopeFormatVersion;
  out[1] = algorithmIds[key.algorithm];
  uuidToBytes(key.id).copy(out, 2);
  out.writeUInt32BE(key.version, 18);
  nonce.copy(out, 22);
  return out;
}

/** Encrypts `plaintext` under `key`, bound to `context` (e.g. the identity of the row it is stored in). */
export function sealEnvelope(key: EnvelopeKey, plaintext: Uint8Array, context: Uint8Array): Buffer {
  const nonce = randomBytesPooled(nonceBytes);
  const head = header(key, nonce);
  const aad = context.length === 0 ? head : Buffer.concat([head, context]);
  return aeadEncryptAfter(head, key.algorithm, key.material, nonce, plaintext, aad);
}

/** Reads the header of a ciphertext without decrypting it; throws EnvelopeError when malformed. */
export function readEnvelopeHeader(ciphertext: Uint8Array): EnvelopeHeader {
  const bytes = Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength);
  if (bytes.length < envelopeHeaderBytes + tagBytes || bytes[0] !== envelopeFormatVersion)
    throw new EnvelopeError();
  const algorithm = algorithmById.get(bytes[1]!);
  if (!algorithm) throw new EnvelopeError();
  return {
    formatVersion: bytes[0]!,
    algorithm,
    keyId: bytesToUuid(bytes.subarray(2, 18)),
    keyVersion: bytes.readUInt32BE(18),
  };
}

/** Decrypts a ciphertext sealed by `sealEnvelope` with the same key and context; EnvelopeError otherwise. */
export function openEnvelope(key: EnvelopeKey, ciphertext: Uint8Array, context: Uint8Array): Buffer {
  const parsed = readEnvelopeHeader(ciphertext);
  if (parsed.keyId !== key.id || parsed.keyVersion !== key.version || parsed.algorithm !== key.algorithm) {
    throw new EnvelopeError();
  }
  const bytes = Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength);
  const head = bytes.subarray(0, envelopeHeaderBytes);
  const nonce = bytes.subarray(22, envelopeHeaderBytes);
  try {
    return aeadDecrypt(
      key.algorithm,
      key.material,
      nonce,
      bytes.subarray(envelopeHeaderBytes),
      Buffer.concat([head, context]),
    );
  } catch {
    throw new EnvelopeError();
  }
}
