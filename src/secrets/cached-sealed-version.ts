import type { SealedVersion } from './secret-version-repo.ts';

/**
 * The version with its ciphertext and wrapped key copied into one buffer of exactly their size. A
 * storage row's bytes under half of `Buffer.poolSize` (64 KiB on Node 24) become a view of a shared
 * pool slab (`Buffer.from`), and a kept view keeps its whole slab alive: `maxBytes` would bound the
 * bytes counted, not the memory held.
 */
export function unpooled(version: SealedVersion): SealedVersion {
  const { ciphertext, wrappedKey } = version;
  const a = ciphertext?.length ?? 0;
  const b = wrappedKey?.length ?? 0;
  if (a + b === 0) return version;
  const both = Buffer.allocUnsafeSlow(a + b);
  if (ciphertext) both.set(ciphertext, 0);
  if (wrappedKey) both.set(wrappedKey, a);
  return {
    ...version,
    ciphertext: ciphertext && both.subarray(0, a),
    wrappedKey: wrappedKey && both.subarray(a, a + b),
  };
}

/** What a cached sealed version is counted as (`maxBytes`). */
export function sealedBytes(version: SealedVersion): number {
  return (
    300 + 2 * version.createdBy.length + (version.ciphertext?.length ?? 0) + (version.wrappedKey?.length ?? 0)
  );
}
