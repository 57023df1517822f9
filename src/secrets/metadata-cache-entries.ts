import type { ServiceAccount } from '../iam/iam-repo.ts';
import type { Invalidation } from '../storage/cache-invalidation.ts';
import { covers } from './metadata-fill-guard.ts';
import { NameMisses } from './name-misses.ts';
import type { SealedVersion } from './secret-version-repo.ts';
import {
  type Instance,
  instanceName,
  type Secret,
  type SecretsLocation,
  secretName,
} from './secret-types.ts';

/** What every entry has: its key, the index it lives under, its estimated size. */
interface EntryBase {
  readonly key: string;
  /** Instance entries: the instance resource; secrets: their instance's; names: the location
   * (`projects/{p}/regions/{r}`); service accounts: `projects/{p}/service-accounts/{email}`. */
  readonly owner: string;
  bytes: number;
  /** Read since it was last passed over for eviction (the clock's second chance). */
  used?: boolean;
}

/** A cached instance, keyed by its resource name. */
export interface InstanceEntry extends EntryBase {
  readonly kind: 'instance';
  readonly instance: Instance;
}

/** A cached secret and the parts of it read so far, keyed by its resource name. */
export interface SecretEntry extends EntryBase {
  readonly kind: 'secret';
  readonly secret: Secret;
  stages?: Map<string, number>;
  /** The newest enabled version; null when none is. */
  latest?: number | null;
  versions?: Map<number, SealedVersion>;
}

/** A name that resolved to one instance (names that resolve to none are kept apart: `misses`). */
export interface NameEntry extends EntryBase {
  readonly kind: 'name';
  readonly id: string;
}

/** Keyed `account\0{email}`: looked up by email. */
export interface AccountEntry extends EntryBase {
  readonly kind: 'account';
  readonly account: ServiceAccount;
}

/** Any entry of the metadata cache. */
export type Entry = InstanceEntry | SecretEntry | NameEntry | AccountEntry;

/** The resource name of a location (`projects/{p}/regions/{r}`), the owner of its name entries. */
export const locationName = (l: SecretsLocation) => `projects/${l.projectId}/regions/${l.regionId}`;
/** The key of an instance's entry (its resource name). */
export const instanceKey = (l: SecretsLocation, id: string) =>
  instanceName({ projectId: l.projectId, regionId: l.regionId, instanceId: id });
/** The key of a secret's entry (its resource name). */
export const secretKey = secretName;

/** Slashes in an instance's resource name (`projects/p/regions/r/instances/i`). */
const instanceDepth = 5;

function slashes(resource: string): number {
  let n = 0;
  for (let i = resource.indexOf('/'); i !== -1; i = resource.indexOf('/', i + 1)) n++;
  return n;
}

/**
 * The entries of the metadata cache: one LRU bounded by entries and approximate bytes, indexed by
 * owner so an invalidation drops a resource and everything under it, plus the names that matched
 * no instance (`NameMisses`, bounded on their own).
 */
export class MetadataEntries {
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  /** Every entry by key, least recently used first. */
  readonly #entries = new Map<string, Entry>();
  /** Instance resource → keys of its instance and secret entries. */
  readonly #byInstance = new Map<string, Set<string>>();
  /** Location → keys of its name entries. */
  readonly #byLocation = new Map<string, Set<string>>();
  /** Service account resource → the key of its entry. */
  readonly #byAccount = new Map<string, Set<string>>();
  #bytes = 0;
  /** Names that match no instance, apart from the LRU (a stranger's junk names evict only junk). */
  readonly misses: NameMisses;

  constructor(maxEntries: number, maxBytes: number) {
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
    this.misses = new NameMisses(maxEntries);
  }

  /** Entries and approximate bytes held. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.#entries.size, bytes: this.#bytes };
  }

  /** The entry under `key`, if any (its place in the eviction order unchanged). */
  get(key: string): Entry | undefined {
    return this.#entries.get(key);
  }

  /** Whether an entry is held under `key`. */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Adds (or replaces) an entry, then evicts while over a bound, sparing it unless alone too big. */
  add(entry: Entry): void {
    const old = this.#entries.get(entry.key);
    if (old) this.#remove(old);
    this.#entries.set(entry.key, entry);
    this.#bytes += entry.bytes;
    const index = this.#indexOf(entry);
    let keys = index.get(entry.owner);
    if (!keys) index.set(entry.owner, (keys = new Set()));
    keys.add(entry.key);
    this.#evict(entry.key);
  }

  /** Counts `added` bytes more for a held entry (a part of it filled), then evicts as `add` does. */
  grow(entry: Entry, added: number): void {
    entry.bytes += added;
    this.#bytes += added;
    this.#evict(entry.key);
  }

  /** Applies an invalidation (see CacheInvalidation): a resource drops itself and what lies under it. */
  drop(what: Invalidation): void {
    if (what === 'all') {
      this.#entries.clear();
      this.#byInstance.clear();
      this.#byLocation.clear();
      this.#byAccount.clear();
      this.#bytes = 0;
      this.misses.clear();
      return;
    }
    for (const resource of what) {
      const entry = this.#entries.get(resource);
      if (entry) this.#remove(entry);
      const depth = slashes(resource);
      // A service account (`projects/p/service-accounts/e`): itself, or its project.
      this.#removeAll(this.#byAccount, resource);
      if (depth < 3 && this.#byAccount.size > 0)
        for (const owner of [...this.#byAccount.keys()])
          if (covers(resource, owner)) this.#removeAll(this.#byAccount, owner);
      if (depth > instanceDepth) continue; // a secret (or below): itself only
      if (depth === instanceDepth) this.#removeAll(this.#byInstance, resource);
      else
        for (const owner of [...this.#byInstance.keys()])
          if (covers(resource, owner)) this.#removeAll(this.#byInstance, owner);
      // An instance created, renamed or deleted changes what names resolve to in its location.
      for (const location of [...this.#byLocation.keys()])
        if (covers(location, resource) || covers(resource, location))
          this.#removeAll(this.#byLocation, location);
      this.misses.drop(resource);
    }
  }

  /** Moves an entry to the end of the eviction order. */
  #requeue(entry: Entry): void {
    entry.used = false;
    this.#entries.delete(entry.key);
    this.#entries.set(entry.key, entry);
  }

  /**
   * Drops entries while over a bound, oldest first, sparing once those read since they were last
   * passed over (a clock: close to least recently used); `keep` goes last, only if alone too big.
   */
  #evict(keep: string): void {
    while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#entries.values().next().value;
      if (oldest === undefined) return;
      if ((oldest.used === true || oldest.key === keep) && this.#entries.size > 1) {
        this.#requeue(oldest);
        continue;
      }
      this.#remove(oldest);
    }
  }

  #remove(entry: Entry): void {
    if (this.#entries.get(entry.key) !== entry) return;
    this.#entries.delete(entry.key);
    this.#bytes -= entry.bytes;
    const index = this.#indexOf(entry);
    const keys = index.get(entry.owner);
    keys?.delete(entry.key);
    if (keys?.size === 0) index.delete(entry.owner);
  }

  #indexOf(entry: Entry): Map<string, Set<string>> {
    return entry.kind === 'name'
      ? this.#byLocation
      : entry.kind === 'account'
        ? this.#byAccount
        : this.#byInstance;
  }

  #removeAll(index: Map<string, Set<string>>, owner: string): void {
    const keys = index.get(owner);
    if (!keys) return;
    for (const key of [...keys]) {
      const entry = this.#entries.get(key);
      if (entry) this.#remove(entry);
    }
    index.delete(owner);
  }
}

/** The approximate bytes an instance entry holds. */
export function instanceBytes(instance: Instance): number {
  return 400 + 2 * (instance.name.length + instance.id.length + instance.projectId.length) + 300;
}

/** The approximate bytes a secret entry holds before any of its parts is filled. */
export function secretBytes(secret: Secret): number {
  let bytes = 600 + 2 * (secret.path.length + secret.uid.length + secret.etag.length);
  if (secret.rotator) bytes += 2 * secret.rotator.length;
  for (const labels of [secret.labels, secret.annotations])
    for (const [k, v] of Object.entries(labels)) bytes += 64 + 2 * (k.length + v.length);
  return bytes;
}
