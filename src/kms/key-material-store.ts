import type { KeyObject } from 'node:crypto';
import type { Barrier } from '../barrier/barrier.ts';
import { CofferError } from '../core/errors.ts';
import { type KmsAlgorithm, loadMaterial } from '../crypto/kms-algorithms.ts';
import type { KmsRepo } from './kms-repo.ts';

/**
 * Key material at rest: sealed by the root key (bound by AAD to its key and version, so material
 * moved to another row does not open), opened as a KeyObject (a raw Buffer key costs 4× more per
 * crypto call on Node 24). The KeyObjects in memory are kept with their version's row by the KMS
 * metadata cache (kms-metadata-cache.ts), which drops them on seal, on any change of their key or
 * its versions, and after a time bound.
 */
export class KeyMaterialStore {
  readonly #barrier: Barrier;
  readonly #repo: KmsRepo;

  constructor(barrier: Barrier, repo: KmsRepo) {
    this.#barrier = barrier;
    this.#repo = repo;
  }

  /** Seals material for storage. */
  seal(keyUid: string, version: number, material: Buffer): Buffer {
    return this.#barrier.encrypt(material, context(keyUid, version));
  }

  /** Reads and opens the KeyObject of a version; `key_not_active` when its material is gone. */
  async open(keyUid: string, version: number, algorithm: KmsAlgorithm): Promise<KeyObject> {
    const sealed = await this.#repo.findSealedMaterial(keyUid, version);
    if (!sealed)
      throw new CofferError('key_not_active', `Key version ${version} has no material (destroyed).`);
    const material = this.#barrier.decrypt(sealed, context(keyUid, version));
    const key = loadMaterial(algorithm, material);
    material.fill(0);
    return key;
  }
}

function context(keyUid: string, version: number): string {
  return `kms/key-version/${keyUid}/${version}`;
}
