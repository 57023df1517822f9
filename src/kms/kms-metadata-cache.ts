import type { KeyObject } from 'node:crypto';
import type { CacheInvalidation, Invalidation } from '../storage/cache-invalidation.ts';
import { type CryptoKey, type KeyVersion, keyResourceName } from './kms-types.ts';

/** How much a KMS metadata cache holds (config `metadataCache`). */
export interface KmsCacheBounds {
  /** Keys plus key versions held at most; 0 turns the cache off. */
  readonly maxEntries: number;
  /** Estimated bytes held at most. */
  readonly maxBytes: number;
  /** How long an unsealed KeyObject is kept before it is unsealed again from storage (10 min). */
  readonly materialTtlMs?: number;
}

interface VersionEntry {
  readonly version: KeyVersion;
  material: KeyObject | undefined;
  materialUntil: number;
}

/** Everything cached of one key: its row (when filled), its versions and their KeyObjects. */
interface KeyGroup {
  readonly uid: string;
  readonly name: string;
  key: CryptoKey | undefined;
  readonly versions: Map<number, VersionEntry>;
  entries: number;
  bytes: number;
}

const keyBytes = 700;
const versionBytes = 300;
/** A private key's native KeyObject (RSA-4096 the largest). */
const materialBytes = 3000;
const literals = ['projects', 'regions', 'keyrings', 'keys'];

/**
 * Key rows and key-version rows (state, algorithm, public key) of this node, with each version's
 * unsealed material as a KeyObject, so that a KMS operation or a secret's data-key unwrap reads no
 * storage on a hit (docs/decisions/0007-metadata-cache.md, "KMS keys and projects").
 *
 * - Everything of one key is grouped under its resource name: an invalidation naming the key (every
 *   key and key-version change record names the key, kms-changes.ts) or a prefix of it drops the key,
 *   all its versions and their KeyObjects; `all` (seal, a job that names nothing, unknown outcome)
 *   drops everything.
 * - Fills follow the generation protocol: what a read returns is stored only when no invalidation
 *   happened since the read began. "Not found" is never cached (a key created on another node is
 *   found at once; key ring creation records no change).
 * - Concurrent misses of the same lookup share one read; a lookup that starts after an invalidation
 *   never joins a read that began before it.
 * - Bounded by entries (a key or a version is one) and estimated bytes; the oldest keys go first.
 *   A KeyObject is kept at most `materialTtlMs` (a timer drops it then, used or not), then unsealed
 *   again.
 * - Hits are served only while the node's invalidation is `fresh` (its feed follower completed a
 *   tick recently); otherwise every lookup reads storage.
 */
export class KmsMetadataCache {
  readonly #invalidation: CacheInvalidation;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #materialTtlMs: number;
  readonly #groups = new Map<string, KeyGroup>();
  readonly #uids = new Map<string, string>();
  #inflight = new Map<string, Promise<unknown>>();
  #entries = 0;
  #bytes = 0;
  /** Drops KeyObjects past their time bound even when nothing uses the cache (unref'd). */
  #sweeper: NodeJS.Timeout | undefined;
  /** Lookups answered from the cache, and lookups that went to storage or unsealed a key (metrics). */
  readonly counts = { hits: 0, misses: 0 };

  constructor(invalidation: CacheInvalidation, bounds: KmsCacheBounds) {
    this.#invalidation = invalidation;
    this.#maxEntries = bounds.maxEntries;
    this.#maxBytes = bounds.maxBytes;
    this.#materialTtlMs = bounds.materialTtlMs ?? 600_000;
    invalidation.subscribe((what) => this.#invalidate(what));
  }

  /** Entries (keys and versions) and estimated bytes held (tests, metrics). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.#entries, bytes: this.#bytes };
  }

  /** A key by resource name: cached, or read by `read` (and cached when found and still current). */
  keyByName(name: string, read: () => Promise<CryptoKey | undefined>): Promise<CryptoKey | undefined> {
    const key = this.#groups.get(name)?.key;
    if (key && this.#invalidation.fresh) return this.#hit(key);
    return this.#shared(`n:${name}`, read, (found) => this.#putKey(found));
  }

  /** A key by uid: cached, or read by `read`. */
  keyByUid(uid: string, read: () => Promise<CryptoKey | undefined>): Promise<CryptoKey | undefined> {
    const name = this.#uids.get(uid);
    const key = name === undefined ? undefined : this.#groups.get(name)?.key;
    if (key && this.#invalidation.fresh) return this.#hit(key);
    return this.#shared(`u:${uid}`, read, (found) => this.#putKey(found));
  }

  /** A version of `key`: cached, or read by `read`. */
  version(
    key: CryptoKey,
    number: number,
    read: () => Promise<KeyVersion | undefined>,
  ): Promise<KeyVersion | undefined> {
    const entry = this.#groups.get(keyResourceName(key))?.versions.get(number);
    if (entry && this.#invalidation.fresh) return this.#hit(entry.version);
    return this.#shared(`v:${key.uid}:${number}`, read, (found) => this.#putVersion(key, found));
  }

  /**
   * The KeyObject of a version whose row is cached: cached (within its time bound), or unsealed by
   * `open` and kept with the version's row. A version that is not cached is opened and not kept.
   */
  async material(key: CryptoKey, number: number, open: () => Promise<KeyObject>): Promise<KeyObject> {
    const entry = this.#groups.get(keyResourceName(key))?.versions.get(number);
    const now = performance.now();
    if (entry?.material && entry.materialUntil > now && this.#invalidation.fresh) {
      this.counts.hits++;
      return entry.material;
    }
    this.counts.misses++;
    const generation = this.#invalidation.generation;
    const material = await open();
    const current = this.#groups.get(keyResourceName(key))?.versions.get(number);
    if (current && generation === this.#invalidation.generation && current.version.state === 'enabled') {
      const group = this.#groups.get(keyResourceName(key))!;
      if (!current.material) this.#grow(group, 0, materialBytes);
      current.material = material;
      current.materialUntil = now + this.#materialTtlMs;
      if (this.#sweeper === undefined) this.#sweeper = this.#sweepAt(current.materialUntil);
      this.#evict();
    }
    return material;
  }

  /**
   * Drops what is cached of `key` on every cache of the node (through the node's invalidation), for
   * a change that turned out to be already in effect: a write whose outcome was unknown may have
   * committed after a read refilled the cache with the state before it.
   */
  forget(key: CryptoKey): void {
    this.#invalidation.invalidate([keyResourceName(key)]);
  }

  /** At `at` (performance.now()), drops every KeyObject past its bound; re-arms for the next one. */
  #sweepAt(at: number): NodeJS.Timeout {
    const timer = setTimeout(
      () => {
        this.#sweeper = undefined;
        const now = performance.now();
        let next = Infinity;
        for (const group of this.#groups.values()) {
          for (const entry of group.versions.values()) {
            if (!entry.material) continue;
            if (entry.materialUntil <= now) {
              entry.material = undefined;
              this.#grow(group, 0, -materialBytes);
            } else next = Math.min(next, entry.materialUntil);
          }
        }
        if (next !== Infinity) this.#sweeper = this.#sweepAt(next);
      },
      Math.max(1, at - performance.now()),
    );
    timer.unref();
    return timer;
  }

  /** Runs `read` once for concurrent callers of the same lookup; stores a result that is still current. */
  #shared<T>(
    id: string,
    read: () => Promise<T | undefined>,
    store: (found: T) => void,
  ): Promise<T | undefined> {
    this.counts.misses++;
    if (this.#maxEntries === 0) return read();
    const joined = this.#inflight.get(id) as Promise<T | undefined> | undefined;
    if (joined) return joined;
    const inflight = this.#inflight;
    const generation = this.#invalidation.generation;
    const promise = read().then(
      (found) => {
        if (inflight.get(id) === promise) inflight.delete(id);
        // Read before an invalidation: answer with it once, never cache it.
        if (found !== undefined && generation === this.#invalidation.generation) store(found);
        return found;
      },
      (err: unknown) => {
        if (inflight.get(id) === promise) inflight.delete(id);
        throw err;
      },
    );
    inflight.set(id, promise);
    return promise;
  }

  #hit<T>(found: T): Promise<T> {
    this.counts.hits++;
    return Promise.resolve(found);
  }

  #group(key: CryptoKey): KeyGroup {
    const name = keyResourceName(key);
    let group = this.#groups.get(name);
    if (!group) {
      group = { uid: key.uid, name, key: undefined, versions: new Map(), entries: 0, bytes: 0 };
      this.#groups.set(name, group);
      this.#uids.set(key.uid, name);
    }
    return group;
  }

  #putKey(key: CryptoKey): void {
    const group = this.#group(key);
    if (!group.key) this.#grow(group, 1, keyBytes);
    group.key = key;
    this.#evict();
  }

  #putVersion(key: CryptoKey, version: KeyVersion): void {
    const group = this.#group(key);
    if (group.versions.has(version.version)) return;
    group.versions.set(version.version, { version, material: undefined, materialUntil: 0 });
    this.#grow(group, 1, versionBytes + (version.publicKeyPem?.length ?? 0));
    this.#evict();
  }

  #grow(group: KeyGroup, entries: number, bytes: number): void {
    group.entries += entries;
    group.bytes += bytes;
    this.#entries += entries;
    this.#bytes += bytes;
  }

  /** Drops the oldest keys (with their versions) until the bounds hold. */
  #evict(): void {
    for (const group of this.#groups.values()) {
      if (this.#entries <= this.#maxEntries && this.#bytes <= this.#maxBytes) return;
      this.#drop(group);
    }
  }

  #drop(group: KeyGroup): void {
    this.#groups.delete(group.name);
    this.#uids.delete(group.uid);
    this.#entries -= group.entries;
    this.#bytes -= group.bytes;
  }

  #invalidate(what: Invalidation): void {
    // A lookup that starts after this must not join a read that began before it.
    if (this.#inflight.size > 0) this.#inflight = new Map();
    if (what === 'all') {
      this.#groups.clear();
      this.#uids.clear();
      this.#entries = 0;
      this.#bytes = 0;
      return;
    }
    for (const resource of what) {
      const parts = resource.split('/', 9);
      if (!parts.every((part, i) => i % 2 === 1 || i >= 8 || part === literals[i / 2])) continue;
      if (parts.length >= 8) {
        // The key itself, or something under it: drop the key and all it holds.
        const group = this.#groups.get(parts.slice(0, 8).join('/'));
        if (group) this.#drop(group);
        continue;
      }
      // A prefix of key names (a project, a region, a key ring): drop every key under it.
      const prefix = `${resource}/`;
      for (const group of this.#groups.values()) if (group.name.startsWith(prefix)) this.#drop(group);
    }
  }
}
