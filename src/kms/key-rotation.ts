import { generateMaterial } from '../crypto/kms-algorithms.ts';
import type { Storage } from '../storage/storage-types.ts';
import type { KeyMaterialStore } from './key-material-store.ts';
import { keyChange } from './kms-changes.ts';
import type { KeyChanges, KmsRepo } from './kms-repo.ts';
import type { CryptoKey } from './kms-types.ts';

/** New key versions: material generated and sealed, and a rotation that makes one primary. */
export class KeyRotation {
  readonly #storage: Storage;
  readonly #repo: KmsRepo;
  readonly #materials: KeyMaterialStore;

  constructor(storage: Storage, repo: KmsRepo, materials: KeyMaterialStore) {
    this.#storage = storage;
    this.#repo = repo;
    this.#materials = materials;
  }

  /** Adds version `primaryVersion + 1` and makes it primary (compare-and-set on the key row). */
  async rotate(key: CryptoKey, now: number): Promise<CryptoKey> {
    const number = key.primaryVersion + 1;
    const version = await this.newVersion(key, number, now);
    const changes: KeyChanges = {
      primaryVersion: number,
      updateTimeMs: now,
      ...(key.rotationPeriodSeconds ? { nextRotationTimeMs: now + key.rotationPeriodSeconds * 1000 } : {}),
    };
    await this.#storage.write([
      this.#repo.updateKey(key, changes),
      version,
      keyChange(this.#storage.db, 'key.rotated', key, now, number),
    ]);
    return { ...key, ...changes } as CryptoKey;
  }

  /** The statement that inserts version `number` of `key` with new material, sealed. */
  async newVersion(key: CryptoKey, number: number, now: number) {
    const generated = await generateMaterial(key.algorithm);
    const sealed = this.#materials.seal(key.uid, number, generated.material);
    generated.material.fill(0);
    return this.#repo.insertVersion(
      {
        keyUid: key.uid,
        version: number,
        state: 'enabled',
        hasMaterial: true,
        publicKeyPem: generated.publicKeyPem ?? null,
        createTimeMs: now,
        destroyTimeMs: null,
      },
      sealed,
    );
  }
}
