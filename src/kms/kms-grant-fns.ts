import type { GrantConstraints, GrantOperation, KmsGrant } from './kms-extras-types.ts';

/** An encryption context: string pairs bound to a ciphertext as additional authenticated data. */
export type EncryptionContext = Readonly<Record<string, string>>;

/**
 * The AAD of an encryption context: the JSON array of its pairs sorted by key (code units), so the
 * order a client sends them in does not matter; no context and an empty one are the same empty AAD
 * (as AWS treats them). The native face's `aad` of the same ciphertext is these bytes.
 */
export function encryptionContextAad(context: EncryptionContext | undefined): Buffer {
  if (context === undefined) return Buffer.alloc(0);
  const pairs = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return pairs.length === 0 ? Buffer.alloc(0) : Buffer.from(JSON.stringify(pairs), 'utf8');
}

/** Whether a request's encryption context satisfies a grant's constraints. */
export function satisfiesConstraints(
  constraints: GrantConstraints | null,
  context: EncryptionContext | undefined,
): boolean {
  if (constraints === null) return true;
  const given = context ?? {};
  const has = (k: string) => Object.prototype.hasOwnProperty.call(given, k);
  if (constraints.encryptionContextEquals) {
    const wanted = Object.entries(constraints.encryptionContextEquals);
    if (Object.keys(given).length !== wanted.length) return false;
    if (!wanted.every(([k, v]) => has(k) && given[k] === v)) return false;
  }
  if (constraints.encryptionContextSubset) {
    if (!Object.entries(constraints.encryptionContextSubset).every(([k, v]) => has(k) && given[k] === v))
      return false;
  }
  return true;
}

/**
 * Operations whose requests carry an encryption context: a grant with constraints allows only these
 * (AWS: constraints apply to cryptographic operations with a context; other operations are refused).
 */
const contextOperations = new Set<GrantOperation>([
  'Decrypt',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'ReEncryptFrom',
  'ReEncryptTo',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'RetireGrant',
]);

/** Whether `grant` allows `operation` with this context. */
export function grantAllows(
  grant: KmsGrant,
  operation: GrantOperation,
  context: EncryptionContext | undefined,
): boolean {
  if (!grant.operations.includes(operation)) return false;
  if (grant.constraints === null) return true;
  if (operation === 'RetireGrant') return true;
  return contextOperations.has(operation) && satisfiesConstraints(grant.constraints, context);
}

/** Whether two grant requests are the same (CreateGrant with a reused name returns the first grant). */
export function sameGrant(a: KmsGrant, b: KmsGrant): boolean {
  return (
    a.grantee === b.grantee &&
    a.retiring === b.retiring &&
    [...a.operations].sort().join() === [...b.operations].sort().join() &&
    JSON.stringify(a.constraints) === JSON.stringify(b.constraints)
  );
}
