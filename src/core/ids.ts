import { randomFillSync, randomUUID } from 'node:crypto';

/** A branded string so that ids of different resources cannot be mixed up. */
export type Brand<T, B extends string> = T & { readonly __brand: B };

/** A project's UUID. */
export type ProjectId = Brand<string, 'ProjectId'>;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A new random (v4) UUID, lowercase. */
export function newUuid(): string {
  return randomUUID();
}

/** True when `value` is a UUID in canonical lowercase form (any version, as Google's KMS ids allow). */
export function isUuid(value: string): boolean {
  return uuidPattern.test(value);
}

/** The regular expression source used in API schemas for UUIDs. */
export const uuidPatternSource = uuidPattern.source;

/**
 * Random bytes for ids drawn from a pool refilled 4 KiB at a time (as `crypto.randomUUID` caches its
 * entropy): one `randomFillSync` call costs ≈3.5 µs whatever its size, and a request draws two or
 * three ids. Ids are unique, not secret; keys, nonces and tokens never come from here.
 */
const entropyPool = Buffer.alloc(4096);
let entropyOffset = entropyPool.length;

function takeEntropy(target: Buffer): void {
  if (entropyOffset + target.length > entropyPool.length) {
    randomFillSync(entropyPool);
    entropyOffset = 0;
  }
  entropyPool.copy(target, 0, entropyOffset, entropyOffset + target.length);
  entropyOffset += target.length;
}

/**
 * A time-ordered UUID (version 7, RFC 9562): 48 bits of Unix milliseconds, then randomness. Rows keyed
 * by it are appended to the end of their index instead of landing on random pages, which keeps
 * write amplification down for the audit log.
 */
export function newTimeOrderedUuid(nowMs: number = Date.now()): string {
  const bytes = Buffer.allocUnsafe(16);
  takeEntropy(bytes);
  bytes.writeUIntBE(nowMs, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
