import type { ServiceAccount } from '../iam/iam-repo.ts';
import type { CacheInvalidation } from '../storage/cache-invalidation.ts';
import { FillGuard } from './metadata-fill-guard.ts';
import { sealedBytes, unpooled } from './cached-sealed-version.ts';
import {
  type Entry,
  instanceBytes,
  instanceKey,
  locationName,
  MetadataEntries,
  secretBytes,
  type SecretEntry,
  secretKey,
} from './metadata-cache-entries.ts';
import type { SealedVersion } from './secret-version-repo.ts';
import type { Instance, Secret, SecretsLocation } from './secret-types.ts';

/** The bounds of the cache (config `metadataCache`): 0 entries turns it off. */
export interface MetadataCacheBounds {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/** Sealed versions kept per secret (the ones read last); older ones are read from storage again. */
export const maxVersionsPerSecret = 4;

/**
 * Secrets Manager's metadata cache (docs/decisions/0007-metadata-cache.md): instances, secrets with
 * their stages, latest enabled version and a few sealed versions (ciphertext and wrapped data key,
 * never a plaintext or a data key), and instance name resolutions. One LRU bounded by entries and
 * approximate bytes; names that match no instance are kept apart (`NameMisses`). Entries are dropped by `CacheInvalidation` (by resource name, a name dropping
 * everything under it), and filled only by a read during which nothing was invalidated.
 */
export class SecretMetadataCache {
  readonly #guard: FillGuard;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  /** The entries, their indexes and eviction, and the names that matched no instance. */
  readonly #entries: MetadataEntries;
  /** A cached secret's entry, found without building its resource name (the hot path's parts). */
  readonly #entryOf = new WeakMap<Secret, SecretEntry>();
  /** Lookups answered from the cache, and lookups that went to storage (metrics). */
  readonly counts = { hits: 0, misses: 0 };

  constructor(invalidation: CacheInvalidation, bounds: MetadataCacheBounds) {
    this.#guard = new FillGuard(invalidation);
    this.#maxEntries = bounds.maxEntries;
    this.#maxBytes = bounds.maxBytes;
    this.#entries = new MetadataEntries(bounds.maxEntries, bounds.maxBytes);
    if (this.enabled)
      invalidation.subscribe((what) => {
        this.#guard.invalidated(what);
        this.#entries.drop(what);
      });
  }

  /** False when configured off (`maxEntries: 0`): every read goes to storage. */
  get enabled(): boolean {
    return this.#maxEntries > 0 && this.#maxBytes > 0;
  }

  /** Entries and approximate bytes held (tests, metrics). */
  get size(): { entries: number; bytes: number } {
    return this.#entries.size;
  }

  /** An instance: cached, else `load` (its result cached); `fresh` reads storage in any case. */
  async instance(
    location: SecretsLocation,
    id: string,
    load: () => Promise<Instance | undefined>,
    fresh = false,
  ): Promise<Instance | undefined> {
    if (!this.enabled) return load();
    const key = instanceKey(location, id);
    if (!fresh) {
      const hit = this.#hit(key);
      if (hit?.kind === 'instance') return hit.instance;
    }
    const generation = this.#guard.start();
    const instance = await load();
    if (instance && this.#guard.keeps(generation, key)) {
      this.#entries.add({ kind: 'instance', key, owner: key, bytes: instanceBytes(instance), instance });
    }
    return instance;
  }

  /** The id of the one instance named `name` in a location (undefined: none or several). */
  async instanceIdForName(
    location: SecretsLocation,
    name: string,
    load: () => Promise<string | undefined>,
  ): Promise<string | undefined> {
    if (!this.enabled) return load();
    const owner = locationName(location);
    const key = `${owner}\u0000${name}`;
    const hit = this.#hit(key);
    if (hit?.kind === 'name') return hit.id;
    if (this.#entries.misses.has(key)) return undefined;
    const generation = this.#guard.start();
    const id = await load();
    // What a name resolves to depends on every instance of the location: nothing may have moved.
    if (!this.#guard.keeps(generation)) return id;
    if (id !== undefined) this.#entries.add({ kind: 'name', key, owner, bytes: 200 + 2 * key.length, id });
    else this.#entries.misses.add(key, owner);
    return id;
  }

  /**
   * An instance's service account (the identity its KMS operations run as, re-checked on each use):
   * its enabled state changes only by changes that name it (`iam.service_account.disable|enable`).
   */
  async serviceAccount(
    email: string,
    load: () => Promise<ServiceAccount | undefined>,
  ): Promise<ServiceAccount | undefined> {
    if (!this.enabled) return load();
    const key = `account\u0000${email}`;
    const hit = this.#hit(key);
    if (hit?.kind === 'account') return hit.account;
    const generation = this.#guard.start();
    const account = await load();
    const owner = account && `projects/${account.projectId}/service-accounts/${email}`;
    if (account && owner && this.#guard.keeps(generation, owner)) {
      this.#entries.add({ kind: 'account', key, owner, bytes: 300 + 4 * key.length, account });
    }
    return account;
  }

  /** A secret by path: cached, else `load`; `fresh` reads storage in any case. */
  async secret(
    instance: Instance,
    path: string,
    load: () => Promise<Secret | undefined>,
    fresh = false,
  ): Promise<Secret | undefined> {
    if (!this.enabled) return load();
    const key = secretKey({ ...instance, instanceId: instance.id, path });
    if (!fresh) {
      const hit = this.#hit(key);
      if (hit?.kind === 'secret') return hit.secret;
    }
    const generation = this.#guard.start();
    const secret = await load();
    if (secret && this.#guard.keeps(generation, key)) {
      const owner = instanceKey(instance, instance.id);
      const entry: SecretEntry = { kind: 'secret', key, owner, bytes: secretBytes(secret), secret };
      this.#entries.add(entry);
      this.#entryOf.set(secret, entry);
    }
    return secret;
  }

  /** A secret's stages (stage → version; shared: never change the map). */
  async stages(
    secret: Secret,
    load: () => Promise<Map<string, number>>,
    fresh = false,
  ): Promise<Map<string, number>> {
    const entry = fresh ? undefined : this.#secretEntry(secret);
    if (entry?.stages) {
      this.counts.hits++;
      return entry.stages;
    }
    return this.#fill(secret, load, (e, stages) => {
      e.stages = stages;
      let bytes = 64;
      for (const stage of stages.keys()) bytes += 80 + 2 * stage.length;
      return bytes;
    });
  }

  /** A secret's newest enabled version number (undefined when none is). */
  async latestEnabled(secret: Secret, load: () => Promise<number | undefined>): Promise<number | undefined> {
    const entry = this.#secretEntry(secret);
    if (entry?.latest !== undefined) {
      this.counts.hits++;
      return entry.latest ?? undefined;
    }
    return this.#fill(secret, load, (e, latest) => {
      e.latest = latest ?? null;
      return 16;
    });
  }

  /**
   * One sealed version. A version that follows the instance key but is not wrapped by the instance's
   * current key (`instanceKeyUid`) is being rewrapped: it is read from storage and never cached, since
   * the rewrap's batches record no change another node would see.
   */
  async version(
    secret: Secret,
    version: number,
    instanceKeyUid: string | null,
    load: () => Promise<SealedVersion | undefined>,
  ): Promise<SealedVersion | undefined> {
    const settled = (v: SealedVersion) => !v.followsInstance || v.wrapKeyUid === instanceKeyUid;
    const cached = this.#secretEntry(secret)?.versions?.get(version);
    if (cached && settled(cached)) {
      this.counts.hits++;
      return cached;
    }
    return this.#fill(secret, load, (e, found) => {
      if (!found || !settled(found)) return 0;
      const versions = (e.versions ??= new Map());
      let freed = 0;
      const previous = versions.get(version);
      if (previous) freed += sealedBytes(previous);
      versions.delete(version);
      while (versions.size >= maxVersionsPerSecret) {
        const [oldest, dropped] = versions.entries().next().value!;
        versions.delete(oldest);
        freed += sealedBytes(dropped);
      }
      const kept = unpooled(found);
      versions.set(version, kept);
      return sealedBytes(kept) - freed;
    });
  }

  /** The generation a put records before it reads the secret it changes (see `committedPut`). */
  startWrite(): number {
    return this.#guard.start();
  }

  /**
   * After a put of this node committed (`before` → `after`, new version `added`, `stages` as they
   * are now): the entry its own invalidation dropped, put back updated, so the next put or read of
   * the secret reads no storage. Only if that invalidation was the one naming the secret since
   * `generation` (`startWrite`, before the put read it): a concurrent change leaves it dropped.
   */
  committedPut(
    instance: Instance,
    before: Secret,
    after: Secret,
    stages: Map<string, number>,
    added: SealedVersion,
    generation: number,
  ): void {
    if (!this.enabled) return;
    const key = secretKey(after);
    // Refilled from storage since (committed state, kept), or changed by someone else too.
    if (this.#entries.has(key) || !this.#guard.keepsOwn(generation, key, 1)) return;
    const old = this.#entryOf.get(before);
    const versions = new Map(old?.versions);
    let bytes = secretBytes(after) + 64 + 16;
    for (const stage of stages.keys()) bytes += 80 + 2 * stage.length;
    if (!added.followsInstance || added.wrapKeyUid === instance.kmsKeyUid) {
      versions.set(added.version, unpooled(added));
      while (versions.size > maxVersionsPerSecret) versions.delete(versions.keys().next().value!);
    }
    for (const version of versions.values()) bytes += sealedBytes(version);
    const owner = instanceKey(instance, instance.id);
    const entry: SecretEntry = {
      kind: 'secret',
      key,
      owner,
      bytes,
      secret: after,
      stages,
      latest: added.version,
      versions,
    };
    this.#entries.add(entry);
    this.#entryOf.set(after, entry);
  }

  /** The entry of `secret`, if cached (its lookup by path refreshed it as most recently used). */
  #secretEntry(secret: Secret): SecretEntry | undefined {
    if (!this.enabled) return undefined;
    const mine = this.#entryOf.get(secret);
    if (mine !== undefined && this.#entries.get(mine.key) === mine) return mine;
    const found = this.#entries.get(secretKey(secret));
    return found?.kind === 'secret' && found.secret.uid === secret.uid ? found : undefined;
  }

  /** Reads a part of a secret's entry and stores it if nothing invalidated the secret meanwhile. */
  async #fill<T>(secret: Secret, load: () => Promise<T>, store: (entry: SecretEntry, value: T) => number) {
    if (!this.enabled) return load();
    this.counts.misses++;
    const generation = this.#guard.start();
    const value = await load();
    const entry = this.#secretEntry(secret);
    if (entry === undefined || !this.#guard.keeps(generation, entry.key)) return value;
    this.#entries.grow(entry, store(entry, value));
    return value;
  }

  #hit(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    // Marked only: moving a Map entry on every hit costs more than the read it saves (the Map's
    // holes are compacted again and again); eviction gives a marked entry a second chance.
    if (entry !== undefined) {
      entry.used = true;
      this.counts.hits++;
    } else this.counts.misses++;
    return entry;
  }
}
