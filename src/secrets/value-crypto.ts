import { createSecretKey, randomBytes } from 'node:crypto';
import type { Barrier } from '../barrier/barrier.ts';
import { errors } from '../core/errors.ts';
import { sealEnvelope } from '../crypto/index.ts';
import type { KmsCryptoService } from '../kms/kms-crypto-service.ts';
import { type CryptoKey, keyResourceName } from '../kms/kms-types.ts';
import { CachedDataKey, type DataKeyCache } from './data-key-cache.ts';
import { versionContext } from './secret-fns.ts';

/** How a version's data key is (to be) wrapped: by a KMS key (version), or by the root key. */
export interface Wrapping {
  /** The KMS key, or undefined for the built-in root-key protection. */
  readonly key?: CryptoKey;
  /** The key version to encrypt with (an instance's configured keyVersion), else the primary. */
  readonly keyVersion?: number;
}

/** A sealed value: ciphertext, wrapped data key, and which KMS key version wrapped it (if any). */
export interface SealedValue {
  readonly ciphertext: Buffer;
  readonly wrappedKey: Buffer;
  readonly kmsKeyVersion?: number;
}

/**
 * Envelope encryption of secret values (SPEC §2, §6): a fresh 256-bit data key per version seals the
 * value (AES-256-GCM), and the data key is wrapped by the bound KMS key version or by the root key.
 * Both ciphertexts are bound by AAD to the secret and version, so a value moved to another row fails.
 */
export class ValueCrypto {
  readonly #barrier: Barrier;
  readonly #kms: KmsCryptoService;
  readonly #dataKeys: DataKeyCache | undefined;

  constructor(barrier: Barrier, kms: KmsCryptoService, dataKeys?: DataKeyCache) {
    this.#barrier = barrier;
    this.#kms = kms;
    this.#dataKeys = dataKeys;
  }

  /** Seals `plaintext` as version `version` of the secret `secretUid`. */
  async seal(
    secretUid: string,
    version: number,
    plaintext: Buffer,
    wrapping: Wrapping,
  ): Promise<SealedValue> {
    const context = versionContext(secretUid, version);
    const dataKey = randomBytes(32);
    try {
      const ciphertext = sealEnvelope(
        { id: secretUid, version, algorithm: 'aes-256-gcm', material: createSecretKey(dataKey) },
        plaintext,
        Buffer.from(context),
      );
      if (!wrapping.key) return { ciphertext, wrappedKey: this.#barrier.encrypt(dataKey, context) };
      const wrapped = await this.#kms.encryptWithKey(
        wrapping.key,
        dataKey,
        Buffer.from(context),
        wrapping.keyVersion,
      );
      return { ciphertext, wrappedKey: wrapped.ciphertext, kmsKeyVersion: wrapped.keyVersion };
    } finally {
      dataKey.fill(0);
    }
  }

  /** Unwraps the data key (with `key`, or the root key when undefined). */
  async unwrap(
    secretUid: string,
    version: number,
    wrappedKey: Buffer,
    key: CryptoKey | undefined,
  ): Promise<{ dataKey: Buffer; kmsKeyVersion?: number }> {
    const context = versionContext(secretUid, version);
    if (!key) {
      try {
        return { dataKey: this.#barrier.decrypt(wrappedKey, context) };
      } catch {
        throw errors.invalid('The stored data key does not open; the version is corrupted.');
      }
    }
    const opened = await this.#kms.decryptWithKey(key, wrappedKey, Buffer.from(context));
    return { dataKey: opened.plaintext, kmsKeyVersion: opened.keyVersion };
  }

  /**
   * The data key of a stored version as a handle that only opens its value: from the data-key cache
   * (after checking that the KMS key version that wrapped it is still usable: the caller checks
   * the rest, as for an unwrap), else unwrapped (with `key`, or the root key) and cached.
   */
  async dataKeyOf(
    secretUid: string,
    secretName: string,
    version: number,
    wrappedKey: Buffer,
    key: CryptoKey | undefined,
  ): Promise<CachedDataKey> {
    const cached = this.#dataKeys?.find(secretUid, version, wrappedKey);
    // Only for the wrapping it was unwrapped with: a KMS-wrapped key is never served without the
    // state check of that key and version (a caller naming no key, or another one, unwraps instead).
    if (cached?.unwrappedWith(key?.uid)) {
      if (key) await this.#kms.requireVersionUsable(key, cached.kmsKeyVersion!);
      return cached;
    }
    const generation = this.#dataKeys?.start();
    const { dataKey, kmsKeyVersion } = await this.unwrap(secretUid, version, wrappedKey, key);
    try {
      const handle = new CachedDataKey(createSecretKey(dataKey), kmsKeyVersion, key?.uid);
      if (generation !== undefined)
        this.#dataKeys!.store(
          secretUid,
          version,
          { secretName, keyName: key ? keyResourceName(key) : undefined, wrappedKey },
          handle,
          generation,
        );
      return handle;
    } finally {
      dataKey.fill(0);
    }
  }

  /** Opens a version's value with its data key handle (`dataKeyOf`). */
  openWith(secretUid: string, version: number, ciphertext: Buffer, dataKey: CachedDataKey): Buffer {
    try {
      return dataKey.open(secretUid, version, ciphertext, Buffer.from(versionContext(secretUid, version)));
    } catch {
      throw errors.invalid('The stored value does not open; the version is corrupted.');
    }
  }

  /** Wraps an existing data key anew (rewrap after an instance key switch). */
  async wrap(secretUid: string, version: number, dataKey: Buffer, wrapping: Wrapping): Promise<Buffer> {
    const context = versionContext(secretUid, version);
    if (!wrapping.key) return this.#barrier.encrypt(dataKey, context);
    return (await this.#kms.encryptWithKey(wrapping.key, dataKey, Buffer.from(context), wrapping.keyVersion))
      .ciphertext;
  }

  /** Seals a small record (an idempotency request digest) under the root key, bound to `context`. */
  sealRecord(plaintext: Buffer, context: string): Buffer {
    return this.#barrier.encrypt(plaintext, context);
  }

  /** Opens what `sealRecord` made for the same context; undefined when it does not open. */
  openRecord(sealed: Buffer, context: string): Buffer | undefined {
    try {
      return this.#barrier.decrypt(sealed, context);
    } catch {
      return undefined;
    }
  }
}
