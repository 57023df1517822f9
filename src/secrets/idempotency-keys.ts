import { createHash, timingSafeEqual } from 'node:crypto';
import { CofferError, errors } from '../core/errors.ts';
import type { WriteStatement } from '../storage/storage-types.ts';
import type { SecretStageRepo } from './secret-stage-repo.ts';
import type { ValueCrypto } from './value-crypto.ts';

/** What a putSecretValue asked for, as far as a replay must match it. */
export interface PutRequest {
  readonly bytes: Buffer;
  readonly binary: boolean;
  readonly stages: readonly string[];
  readonly expectedLatestVersion: number | undefined;
}

/** An idempotency key (AWS's ClientRequestToken) used again for a different request: `conflict`. */
export class IdempotencyKeyReused extends CofferError {
  /** The version the key made first. */
  readonly version: number;

  constructor(key: string, version: number) {
    super(
      'conflict',
      `Idempotency-Key ${key} was already used on this secret for a different request ` +
        `(which made version ${version}); send a new key for a new value.`,
    );
    this.version = version;
  }
}

/** Rejects an Idempotency-Key that is not 1–128 safe characters. */
export function checkIdempotencyKey(key: string): void {
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(key))
    throw errors.invalid('Idempotency-Key must be 1–128 letters, digits, ".", "_", ":" or "-".');
}

/** SHA-256 of the request: a length-prefixed header (kind, stages, expected version), then the value. */
export function requestDigest(request: PutRequest): Buffer {
  const header = Buffer.from(
    JSON.stringify({
      binary: request.binary,
      stages: request.stages,
      expectedLatestVersion: request.expectedLatestVersion ?? null,
    }),
  );
  const length = Buffer.alloc(4);
  length.writeUInt32BE(header.length);
  return createHash('sha256').update(length).update(header).update(request.bytes).digest();
}

const context = (secretUid: string, key: string) => `sm-idempotency:${secretUid}:${key}`;

/**
 * Idempotency keys of putSecretValue (as AWS's ClientRequestToken): the same key with the same request
 * replays the first version; with another request it is a `conflict`. The stored digest is sealed
 * under the root key and bound to the secret and key: a bare hash of a short secret (a PIN) could be
 * guessed offline by whoever reads the database, a sealed one cannot, and a row copied to another
 * secret or key does not open.
 */
export class IdempotencyKeys {
  readonly #repo: SecretStageRepo;
  readonly #crypto: ValueCrypto;

  constructor(repo: SecretStageRepo, crypto: ValueCrypto) {
    this.#repo = repo;
    this.#crypto = crypto;
  }

  /** The version this key produced for this same request, or undefined if the key is new. */
  async replay(secretUid: string, key: string, digest: Buffer): Promise<number | undefined> {
    const earlier = await this.#repo.idempotentVersion(secretUid, key);
    if (earlier === undefined) return undefined;
    // Rows written before digests were stored replay as they always did.
    if (earlier.sealedDigest === null) return earlier.version;
    const stored = this.#crypto.openRecord(earlier.sealedDigest, context(secretUid, key));
    if (!stored || stored.length !== digest.length || !timingSafeEqual(stored, digest)) {
      throw new IdempotencyKeyReused(key, earlier.version);
    }
    return earlier.version;
  }

  /** The statement that records the key, the version it made and the sealed request digest. */
  record(secretUid: string, key: string, version: number, digest: Buffer, nowMs: number): WriteStatement {
    const sealed = this.#crypto.sealRecord(digest, context(secretUid, key));
    return this.#repo.insertIdempotency(secretUid, key, version, sealed, nowMs);
  }
}
