import { createHash, createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';
import { newUuid } from '../core/ids.ts';
import { EnvelopeError, type EnvelopeKey, openEnvelope, sealEnvelope } from '../crypto/index.ts';

/** The seal types this build supports. */
export type SealType = 'file' | 'shamir';

/**
 * What storage keeps about the seal (row `system.seal`): never the root key in clear, only the root
 * key sealed by the unseal key (the key file's key, or the key the Shamir shares reconstruct).
 */
export interface SealRecord {
  /** How the unseal key is protected. */
  readonly type: SealType;
  /** Number of Shamir shares made at init (shamir only). */
  readonly secretShares?: number;
  /** Shares needed to unseal (shamir only). */
  readonly secretThreshold?: number;
  /**
   * SHA-256 (hex) of each Shamir share made at init, sorted (a set: nothing ties a hash to a share's
   * position), so that unseal refuses anything that is not one of them before it joins an attempt.
   * A share is 33 bytes, 32 of them uniformly random, so its hash reveals nothing usable. Absent
   * from records written before this field existed: those accept any share-shaped value, as before.
   */
  readonly shareHashes?: readonly string[];
  /** Id of the unseal key, written into the sealed root key's header. */
  readonly unsealKeyId: string;
  /** Id of the root key, written into the header of everything the barrier encrypts. */
  readonly rootKeyId: string;
  /** The root key sealed by the unseal key (base64 envelope). */
  readonly sealedRootKey: string;
  /** When the node was initialized (ms). */
  readonly initTimeMs: number;
}

/** The context (AAD) that binds the sealed root key to its purpose. */
const rootKeyContext = Buffer.from('coffer/seal/root-key/v1');

/** Byte length of unseal and root keys (256 bits). */
export const sealKeyBytes = 32;

/** The unseal key as an envelope key. */
export function unsealEnvelopeKey(unsealKeyId: string, unsealKey: Buffer): EnvelopeKey {
  return { id: unsealKeyId, version: 1, algorithm: 'aes-256-gcm', material: createSecretKey(unsealKey) };
}

/** A fresh root key sealed under `unsealKey`, as a record ready to store. */
export function createSealRecord(
  type: SealType,
  unsealKey: Buffer,
  nowMs: number,
  shamir?: { secretShares: number; secretThreshold: number; shareHashes?: readonly string[] },
): SealRecord {
  const unsealKeyId = newUuid();
  const rootKey = randomBytes(sealKeyBytes);
  try {
    const sealed = sealEnvelope(unsealEnvelopeKey(unsealKeyId, unsealKey), rootKey, rootKeyContext);
    return {
      type,
      ...(shamir ?? {}),
      unsealKeyId,
      rootKeyId: newUuid(),
      sealedRootKey: sealed.toString('base64'),
      initTimeMs: nowMs,
    };
  } finally {
    rootKey.fill(0);
  }
}

/** The root key as an envelope key, or undefined when `unsealKey` is not the one the record was sealed with. */
export function openRootKey(record: SealRecord, unsealKey: Buffer): EnvelopeKey | undefined {
  try {
    const rootKey = openEnvelope(
      unsealEnvelopeKey(record.unsealKeyId, unsealKey),
      Buffer.from(record.sealedRootKey, 'base64'),
      rootKeyContext,
    );
    const material = createSecretKey(rootKey);
    rootKey.fill(0);
    return { id: record.rootKeyId, version: 1, algorithm: 'aes-256-gcm', material };
  } catch (err) {
    if (err instanceof EnvelopeError) return undefined;
    throw err;
  }
}

/** The `shareHashes` of a record for `shares`: SHA-256 of each, hex, sorted. */
export function hashShares(shares: readonly Uint8Array[]): string[] {
  return shares.map((share) => createHash('sha256').update(share).digest('hex')).sort();
}

/**
 * Whether `share` is one of the shares made at init: true or false when the record keeps their hashes,
 * undefined for a record written before it did (nothing to check against). Every stored hash is
 * compared in constant time, with no early exit, so the time taken says nothing about the stored
 * hashes (not that it could matter much: what is compared is the hash of the caller's own value).
 */
export function isShareOf(record: SealRecord, share: Uint8Array): boolean | undefined {
  if (record.shareHashes === undefined) return undefined;
  const digest = createHash('sha256').update(share).digest();
  let found = false;
  for (const hex of record.shareHashes) {
    const stored = Buffer.from(hex, 'hex');
    if (stored.length === digest.length && timingSafeEqual(stored, digest)) found = true;
  }
  return found;
}

/** Parses the stored JSON of a seal record; throws when it is not one (a corrupted row). */
export function parseSealRecord(json: string): SealRecord {
  const value = JSON.parse(json) as Partial<SealRecord>;
  if (
    (value.type !== 'file' && value.type !== 'shamir') ||
    typeof value.unsealKeyId !== 'string' ||
    typeof value.rootKeyId !== 'string' ||
    typeof value.sealedRootKey !== 'string' ||
    typeof value.initTimeMs !== 'number' ||
    (value.shareHashes !== undefined &&
      (!Array.isArray(value.shareHashes) ||
        !value.shareHashes.every((hash) => typeof hash === 'string' && /^[0-9a-f]{64}$/.test(hash))))
  ) {
    throw new Error('the stored seal record is corrupted');
  }
  return value as SealRecord;
}
