import { createPublicKey, type KeyObject, randomBytes } from 'node:crypto';
import { CofferError, errors } from '../core/errors.ts';
import { EnvelopeError } from '../crypto/envelope.ts';
import {
  algorithmInfo,
  digestBytes,
  macWith,
  publicKeyOf,
  rsaOaepDecrypt,
  rsaOaepEncrypt,
  rsaOaepMaxPlaintext,
  type SignInput,
  signWith,
  verifyMacWith,
  verifyWith,
} from '../crypto/kms-algorithms.ts';
import { type KmsSymmetricKey, kmsDecrypt, kmsEncrypt, readKmsHeader } from '../crypto/kms-ciphertext.ts';
import {
  type RsaSignScheme,
  rsaOaepDecryptWith,
  rsaOaepEncryptWith,
  rsaOaepMaxPlaintextWith,
  rsaSignWithScheme,
  rsaVerifyWithScheme,
  schemeDigestBytes,
} from '../crypto/rsa-schemes.ts';
import type { KeyMaterialStore } from './key-material-store.ts';
import { requireUsable } from './kms-fns.ts';
import type { KmsMetadataCache } from './kms-metadata-cache.ts';
import type { KmsRepo } from './kms-repo.ts';
import type { KmsService } from './kms-service.ts';
import type { CryptoKey, KmsLocation } from './kms-types.ts';

/** Largest plaintext, data or message accepted (64 KiB, SPEC §10). */
export const maxPlaintextBytes = 64 * 1024;

/** Which key a crypto operation names in its URL. */
export interface KeyRef extends KmsLocation {
  readonly keyRingId: string;
  readonly keyId: string;
}

const badCiphertext = () => errors.invalid('The ciphertext is invalid, or does not match this key and AAD.');

function checkSize(bytes: Buffer, field: string): void {
  if (bytes.length > maxPlaintextBytes) {
    throw new CofferError('payload_too_large', `${field} is over ${maxPlaintextBytes} bytes.`);
  }
}

/**
 * KMS crypto operations (SPEC §5). Order of checks: the key exists (404), the input is valid for the
 * key's purpose (400/413), then key and version state (`key_not_active`). Failures to decrypt or
 * verify carry one generic message: no oracle.
 */
export class KmsCryptoService {
  readonly #kms: KmsService;
  readonly #repo: KmsRepo;
  readonly #materials: KeyMaterialStore;
  readonly #cache: KmsMetadataCache;

  constructor(kms: KmsService, repo: KmsRepo, materials: KeyMaterialStore, cache: KmsMetadataCache) {
    this.#kms = kms;
    this.#repo = repo;
    this.#materials = materials;
    this.#cache = cache;
  }

  /** Encrypts under the primary (or the named) version. */
  async encrypt(ref: KeyRef, plaintext: Buffer, aad: Buffer, keyVersion?: number) {
    const key = await this.#key(ref);
    checkSize(plaintext, 'plaintext');
    if (key.purpose === 'decrypt') {
      const version = keyVersion ?? key.primaryVersion;
      const bits = algorithmInfo[key.algorithm].modulusBits!;
      if (plaintext.length > rsaOaepMaxPlaintext(bits))
        throw errors.invalid(`RSA-OAEP takes at most ${rsaOaepMaxPlaintext(bits)} bytes.`);
      if (aad.length > 0) throw errors.invalid('aad is not supported by RSA-OAEP keys.');
      const privateKey = await this.#usable(key, version);
      return { ciphertext: rsaOaepEncrypt(publicKeyOf(privateKey), plaintext), keyVersion: version };
    }
    this.#requirePurpose(key, 'encrypt_decrypt', 'encrypt');
    return this.encryptWithKey(key, plaintext, aad, keyVersion);
  }

  /** Encrypts with an already loaded symmetric key (Secrets Manager's entry point). */
  async encryptWithKey(key: CryptoKey, plaintext: Buffer, aad: Buffer, keyVersion?: number) {
    const version = keyVersion ?? key.primaryVersion;
    const material = await this.#usable(key, version);
    return {
      ciphertext: kmsEncrypt(this.#symmetric(key, version, material), plaintext, aad),
      keyVersion: version,
    };
  }

  /** Decrypts a ciphertext of any enabled version (named in the ciphertext). */
  async decrypt(ref: KeyRef, ciphertext: Buffer, aad: Buffer, keyVersion?: number) {
    const key = await this.#key(ref);
    if (key.purpose === 'decrypt') {
      if (aad.length > 0) throw errors.invalid('aad is not supported by RSA-OAEP keys.');
      const version = keyVersion ?? key.primaryVersion;
      const privateKey = await this.#usable(key, version);
      try {
        return { plaintext: rsaOaepDecrypt(privateKey, ciphertext), keyVersion: version };
      } catch {
        throw badCiphertext();
      }
    }
    this.#requirePurpose(key, 'encrypt_decrypt', 'decrypt');
    return this.decryptWithKey(key, ciphertext, aad);
  }

  /** Decrypts with an already loaded symmetric key (Secrets Manager's entry point). */
  async decryptWithKey(key: CryptoKey, ciphertext: Buffer, aad: Buffer) {
    let version: number;
    try {
      const header = readKmsHeader(ciphertext);
      if (header.keyId !== key.uid || header.algorithm !== algorithmInfo[key.algorithm].aead)
        throw badCiphertext();
      version = header.keyVersion;
    } catch {
      throw badCiphertext();
    }
    const material = await this.#usable(key, version, badCiphertext);
    try {
      return {
        plaintext: kmsDecrypt(this.#symmetric(key, version, material), ciphertext, aad),
        keyVersion: version,
      };
    } catch (err) {
      if (err instanceof EnvelopeError) throw badCiphertext();
      throw err;
    }
  }

  /** A fresh data key, encrypted under the primary version (and in clear unless asked not to). */
  async generateDataKey(ref: KeyRef, numberOfBytes: number, includePlaintext: boolean, aad: Buffer) {
    const key = await this.#key(ref);
    this.#requirePurpose(key, 'encrypt_decrypt', 'generate-data-key');
    const dataKey = randomBytes(numberOfBytes);
    const { ciphertext, keyVersion } = await this.encryptWithKey(key, dataKey, aad);
    const result = {
      ciphertext,
      keyVersion,
      ...(includePlaintext ? { plaintext: Buffer.from(dataKey) } : {}),
    };
    dataKey.fill(0);
    return result;
  }

  /** Re-encrypts under the primary version without showing the plaintext. */
  async rewrap(ref: KeyRef, ciphertext: Buffer, aad: Buffer) {
    const key = await this.#key(ref);
    this.#requirePurpose(key, 'encrypt_decrypt', 'rewrap');
    const { plaintext } = await this.decryptWithKey(key, ciphertext, aad);
    try {
      return await this.encryptWithKey(key, plaintext, aad);
    } finally {
      plaintext.fill(0);
    }
  }

  /** Signs data or a digest with the primary (or named) version. */
  async sign(ref: KeyRef, input: SignInput, keyVersion?: number) {
    const key = await this.#key(ref);
    this.#checkSignInput(key, input);
    const version = keyVersion ?? key.primaryVersion;
    const privateKey = await this.#usable(key, version);
    return { signature: signWith(key.algorithm, privateKey, input), keyVersion: version };
  }

  /** Verifies a signature against the named version, or the primary one. */
  async verify(ref: KeyRef, input: SignInput, signature: Buffer, keyVersion?: number) {
    const key = await this.#key(ref);
    this.#checkSignInput(key, input);
    const version = keyVersion ?? key.primaryVersion;
    const privateKey = await this.#usable(key, version);
    return {
      valid: verifyWith(key.algorithm, publicKeyOf(privateKey), input, signature),
      keyVersion: version,
    };
  }

  /** HMAC with the primary (or named) version. */
  async mac(ref: KeyRef, data: Buffer, keyVersion?: number) {
    const key = await this.#key(ref);
    this.#requirePurpose(key, 'mac', 'mac');
    checkSize(data, 'data');
    const version = keyVersion ?? key.primaryVersion;
    return { mac: macWith(key.algorithm, await this.#usable(key, version), data), keyVersion: version };
  }

  /** Checks an HMAC (constant time) against the named version, or the primary one. */
  async verifyMac(ref: KeyRef, data: Buffer, mac: Buffer, keyVersion?: number) {
    const key = await this.#key(ref);
    this.#requirePurpose(key, 'mac', 'verify-mac');
    checkSize(data, 'data');
    const version = keyVersion ?? key.primaryVersion;
    return {
      valid: verifyMacWith(key.algorithm, await this.#usable(key, version), data, mac),
      keyVersion: version,
    };
  }

  /** Signs with an RSA signing key under `scheme` (PKCS#1 v1.5, or PSS with SHA-256/384/512), primary version. */
  async signRsa(ref: KeyRef, scheme: RsaSignScheme, input: SignInput) {
    const key = await this.#key(ref);
    this.#checkRsaSignInput(key, scheme, input);
    const privateKey = await this.#usable(key, key.primaryVersion);
    return { signature: rsaSignWithScheme(privateKey, scheme, input), keyVersion: key.primaryVersion };
  }

  /** Verifies a signature made by `signRsa` (or any standard implementation), primary version. */
  async verifyRsa(ref: KeyRef, scheme: RsaSignScheme, input: SignInput, signature: Buffer) {
    const key = await this.#key(ref);
    this.#checkRsaSignInput(key, scheme, input);
    const privateKey = await this.#usable(key, key.primaryVersion);
    return {
      valid: rsaVerifyWithScheme(publicKeyOf(privateKey), scheme, input, signature),
      keyVersion: key.primaryVersion,
    };
  }

  /** RSAES-OAEP with SHA-1 or SHA-256 under an RSA decrypt key's primary version. */
  async encryptRsa(ref: KeyRef, hash: 'sha1' | 'sha256', plaintext: Buffer) {
    const key = await this.#key(ref);
    this.#requirePurpose(key, 'decrypt', 'encrypt with RSA-OAEP');
    const max = rsaOaepMaxPlaintextWith(algorithmInfo[key.algorithm].modulusBits!, hash);
    if (plaintext.length > max) throw errors.invalid(`RSA-OAEP takes at most ${max} bytes here.`);
    const privateKey = await this.#usable(key, key.primaryVersion);
    return {
      ciphertext: rsaOaepEncryptWith(publicKeyOf(privateKey), hash, plaintext),
      keyVersion: key.primaryVersion,
    };
  }

  /** RSAES-OAEP decryption with SHA-1 or SHA-256 (one generic error on failure: no oracle). */
  async decryptRsa(ref: KeyRef, hash: 'sha1' | 'sha256', ciphertext: Buffer) {
    const key = await this.#key(ref);
    this.#requirePurpose(key, 'decrypt', 'decrypt with RSA-OAEP');
    const privateKey = await this.#usable(key, key.primaryVersion);
    try {
      return { plaintext: rsaOaepDecryptWith(privateKey, hash, ciphertext), keyVersion: key.primaryVersion };
    } catch {
      throw badCiphertext();
    }
  }

  /** The PEM public key of an asymmetric key version (readable in every key state while the version has material). */
  async publicKey(ref: KeyRef, versionNumber: number) {
    const { key, version } = await this.#kms.getVersion(ref, ref.keyRingId, ref.keyId, versionNumber);
    const family = algorithmInfo[key.algorithm].family;
    if (family === 'symmetric' || family === 'hmac')
      throw errors.invalid(`A ${key.algorithm} key has no public key.`);
    if (version.state === 'destroyed' || !version.publicKeyPem) {
      throw new CofferError('failed_precondition', `Key version ${versionNumber} is destroyed.`);
    }
    return {
      pem: createPublicKey(version.publicKeyPem).export({ format: 'pem', type: 'spki' }).toString(),
      algorithm: key.algorithm,
    };
  }

  async #key(ref: KeyRef): Promise<CryptoKey> {
    return this.#kms.getKey(ref, ref.keyRingId, ref.keyId);
  }

  #requirePurpose(key: CryptoKey, purpose: CryptoKey['purpose'], operation: string): void {
    if (key.purpose !== purpose) {
      throw errors.invalid(`A ${key.algorithm} key with purpose ${key.purpose} cannot ${operation}.`);
    }
  }

  #checkSignInput(key: CryptoKey, input: SignInput): void {
    this.#requirePurpose(key, 'sign_verify', 'sign or verify');
    if ('digest' in input) {
      const expected = digestBytes(key.algorithm);
      if (expected === undefined)
        throw errors.invalid(`${key.algorithm} signs messages: send data, not digest.`);
      if (input.digest.length !== expected)
        throw errors.invalid(`digest must be ${expected} bytes for ${key.algorithm}.`);
    } else {
      checkSize(input.data, 'data');
    }
  }

  #checkRsaSignInput(key: CryptoKey, scheme: RsaSignScheme, input: SignInput): void {
    this.#requirePurpose(key, 'sign_verify', 'sign or verify');
    if (algorithmInfo[key.algorithm].family !== 'rsa')
      throw errors.invalid(`${key.algorithm} is not an RSA key.`);
    if ('digest' in input) {
      if (input.digest.length !== schemeDigestBytes(scheme))
        throw errors.invalid(`digest must be ${schemeDigestBytes(scheme)} bytes for ${scheme.hash}.`);
    } else checkSize(input.data, 'data');
  }

  /**
   * `key_not_active` unless the key and its version `version` are usable now (a version that does
   * not exist: the generic bad-ciphertext error); what a decryption with the version checks, for a
   * caller that holds what the version decrypted earlier (the data-key cache).
   */
  async requireVersionUsable(key: CryptoKey, version: number): Promise<void> {
    const found = await this.#cache.version(key, version, () => this.#repo.findVersion(key.uid, version));
    if (!found) throw badCiphertext();
    requireUsable(key.state, found.state, version);
  }

  /** The KeyObject of `version` once key and version are usable; no storage read on a cache hit. */
  async #usable(key: CryptoKey, version: number, missing?: () => CofferError): Promise<KeyObject> {
    const found = await this.#cache.version(key, version, () => this.#repo.findVersion(key.uid, version));
    if (!found) throw missing ? missing() : errors.invalid(`Key version ${version} does not exist.`);
    requireUsable(key.state, found.state, version);
    return this.#cache.material(key, version, () => this.#materials.open(key.uid, version, key.algorithm));
  }

  #symmetric(key: CryptoKey, version: number, material: KeyObject): KmsSymmetricKey {
    return { keyId: key.uid, version, algorithm: algorithmInfo[key.algorithm].aead!, material };
  }
}
