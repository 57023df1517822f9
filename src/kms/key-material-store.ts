import type { KeyObject } from 'node:crypto';
import type { Barrier } from '../barrier/barrier.ts';
import { CofferError } from '../core/errors.ts';
import { type KmsAlgorithm, loadMaterial } from '../crypto/kms-algorithms.ts';
import type { KmsRepo } from './kms-repo.ts';

const cacheLimit = 10_000;

/**
 * Key material at rest and in memory: sealed by the root key (bound by AAD to its key and version,
 * so material moved to another row does not open), and kept unsealed in a bounded in-memory cache as
 * KeyObjects (a raw Buffer key costs 4× more per crypto call on Node 24). Callers check the version's
 * state in storage before every use, so a cached entry of a destroyed version is never used.
 */
export class KeyMaterialStore {
  readonly #barrier: Barrier;
  readonly #repo: KmsRepo;
  readonly #cache = new Map<string, KeyObject>();

  constructor(barrier: Barrier, repo: KmsRepo) {
    this.#barrier = barrier;
    this.#repo = repo;
  }

  /** Seals material for storage. */
  seal(keyUid: string, version: number, material: Buffer): Buffer {
    return this.#barrier.encrypt(material, context(keyUid, version));
  }

  /** The usable KeyObject of a version; `key_not_active` when its material is gone. */
  async load(keyUid: string, version: number, algorithm: KmsAlgorithm): Promise<KeyObject> {
    const id = `${keyUid}:${version}`;
    const cached = this.#cache.get(id);
    if (cached) return cached;
    const sealed = await this.#repo.findSealedMaterial(keyUid, version);
    if (!sealed)
      throw new CofferError('key_not_active', `Key version ${version} has no material (destroyed).`);
    const material = this.#barrier.decrypt(sealed, context(keyUid, version));
    const key = loadMaterial(algorithm, material);
    material.fill(0);
    if (this.#cache.size >= cacheLimit) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(id, key);
    return key;
  }

  /** Drops a version (or every version of a key) from memory. */
  forget(keyUid: string, version?: number): void {
    if (version !== undefined) {
      this.#cache.delete(`${keyUid}:${version}`);
      return;
    }
    for (const id of this.#cache.keys()) if (id.startsWith(`${keyUid}:`)) this.#cache.delete(id);
  }

  /** Drops everything (on seal). */
  clear(): void {
    this.#cache.clear();
  }
}

function context(keyUid: string, version: number): string {
  return `kms/key-version/${keyUid}/${version}`;
}
