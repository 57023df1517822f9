import type { KeyObject } from 'node:crypto';
import { openEnvelope } from '../crypto/envelope.ts';
import type { CacheInvalidation, Invalidation } from '../storage/cache-invalidation.ts';
import { covers, FillGuard } from './metadata-fill-guard.ts';

/** The bounds of the data-key cache (config `dataKeyCache`): 0 entries turns it off. */
export interface DataKeyCacheBounds {
  /** Data keys held at most (oldest dropped first). */
  readonly maxEntries: number;
  /** How long a data key is kept after it was unwrapped, used or not (ms). */
  readonly ttlMs: number;
  /** The monotonic clock (ms; tests inject one): performance.now() by default. */
  readonly now?: () => number;
}

/** Where an unwrapped data key came from: what must still match for it to be used. */
export interface DataKeySource {
  /** The secret's resource name (an invalidation of it, or of a name above it, drops the key). */
  readonly secretName: string;
  /** The wrapping KMS key's resource name; undefined for root-key protection. */
  readonly keyName: string | undefined;
  /** The wrapped key as stored: a rewrapped version (other bytes) misses. */
  readonly wrappedKey: Uint8Array;
}

/**
 * A cached data key: it can open the value it belongs to and nothing else; the KeyObject is an ES
 * private field, so no code outside this class can reach it (no `export()` call is possible on it).
 */
export class CachedDataKey {
  readonly #key: KeyObject;
  /** The uid of the KMS key that unwrapped it (undefined: the root key, or not told). */
  readonly #kmsKeyUid: string | undefined;
  /** The KMS key version that wrapped it (undefined: root-key protection). */
  readonly kmsKeyVersion: number | undefined;

  constructor(key: KeyObject, kmsKeyVersion: number | undefined, kmsKeyUid?: string) {
    this.#key = key;
    this.kmsKeyVersion = kmsKeyVersion;
    this.#kmsKeyUid = kmsKeyUid;
  }

  /**
   * Whether it was unwrapped with the KMS key `keyUid` (undefined: with the root key): a hit serves
   * only a caller that names the same wrapping, whose state it then checks (ValueCrypto.dataKeyOf).
   */
  unwrappedWith(keyUid: string | undefined): boolean {
    return this.#kmsKeyUid === keyUid && (this.kmsKeyVersion === undefined) === (keyUid === undefined);
  }

  /** Opens the version's value envelope (ValueCrypto.openWith); EnvelopeError when it does not. */
  open(secretUid: string, version: number, ciphertext: Uint8Array, context: Uint8Array): Buffer {
    return openEnvelope(
      { id: secretUid, version, algorithm: 'aes-256-gcm', material: this.#key },
      ciphertext,
      context,
    );
  }
}

interface Entry {
  readonly id: string;
  readonly handle: CachedDataKey;
  readonly wrappedKey: Buffer;
  readonly secretName: string;
  readonly keyName: string | undefined;
  readonly until: number;
}

/** Slashes in a secret's or a key's resource name (`projects/p/regions/r/{instances|keyrings}/x/{secrets|keys}/y`). */
const leafDepth = 7;

function slashes(resource: string): number {
  let n = 0;
  for (let i = resource.indexOf('/'); i !== -1; i = resource.indexOf('/', i + 1)) n++;
  return n;
}

/** `resource` cut to its first `depth + 1` segments. */
function cut(resource: string, depth: number): string {
  let at = -1;
  for (let n = 0; n <= depth; n++) {
    at = resource.indexOf('/', at + 1);
    if (at === -1) return resource;
  }
  return resource.slice(0, at);
}

/**
 * Unwrapped data keys of secret versions, so that a warm getSecretValue skips the unwrap (an HKDF
 * derivation and an AES-GCM decryption) and decrypts its value directly (docs/decisions/0008-data-key-cache.md).
 *
 * - A data key is held only as a `KeyObject`, in this class: no method hands it out; `open` runs the
 *   value's decryption with it. It is never a Buffer after the unwrap that made it (which is zeroed).
 * - Bounded by count (oldest first) and time (`ttlMs` after the unwrap, used or not: an unref'd timer
 *   drops it then).
 * - Dropped with everything else on `all` (seal, a job, a lapsed feed lease, unknown outcome), and
 *   by an invalidation that names its secret (a version disabled or destroyed, a put, a delete), its
 *   wrapping key (key or key version state change, rotation, destroy: every such change names the
 *   key), or a name above either (instance, key ring, region, project), on this node at once and
 *   from other nodes through the change feed.
 * - Served only while the node's invalidation is `fresh`, and only for the same wrapped key bytes;
 *   a fill is kept only if nothing that names its secret or key was invalidated while it unwrapped.
 * - A hit skips only the unwrap: the caller still checks the secret version's state, the bound and
 *   wrapping key's state, the key version's state and the acting identity on every request.
 */
export class DataKeyCache {
  readonly #invalidation: CacheInvalidation;
  readonly #guard: FillGuard;
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** By `secretUid\0version`, oldest first (all share one time bound, so also soonest to expire first). */
  readonly #entries = new Map<string, Entry>();
  /** Secret resource name → ids of its entries. */
  readonly #bySecret = new Map<string, Set<string>>();
  /** Key resource name → ids of the entries it wrapped. */
  readonly #byKey = new Map<string, Set<string>>();
  #sweeper: NodeJS.Timeout | undefined;
  /** Reveals answered with a cached data key, and unwraps (metrics, tests). */
  readonly counts = { hits: 0, misses: 0 };

  constructor(invalidation: CacheInvalidation, bounds: DataKeyCacheBounds) {
    this.#invalidation = invalidation;
    this.#guard = new FillGuard(invalidation);
    this.#maxEntries = bounds.maxEntries;
    this.#ttlMs = bounds.ttlMs;
    this.#now = bounds.now ?? (() => performance.now());
    if (this.enabled)
      invalidation.subscribe((what) => {
        this.#guard.invalidated(what);
        this.#drop(what);
      });
  }

  /** False when configured off (`maxEntries: 0`). */
  get enabled(): boolean {
    return this.#maxEntries > 0 && this.#ttlMs > 0;
  }

  /** Data keys held (tests, metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The cached data key of a version, as a handle that can only open its value, with the KMS key
   * version that wrapped it; undefined on a miss (not cached, expired, other wrapped bytes, lease lapsed).
   */
  find(secretUid: string, version: number, wrappedKey: Uint8Array): CachedDataKey | undefined {
    if (!this.enabled) return undefined;
    const entry = this.#entries.get(`${secretUid}\u0000${version}`);
    if (
      entry === undefined ||
      !this.#invalidation.fresh ||
      entry.until <= this.#now() ||
      !entry.wrappedKey.equals(wrappedKey)
    ) {
      this.counts.misses++;
      return undefined;
    }
    this.counts.hits++;
    return entry.handle;
  }

  /** The generation to record before an unwrap whose result may be stored (`store`). */
  start(): number {
    return this.#guard.start();
  }

  /** Keeps `handle` unless something naming its secret or key was invalidated since `generation`. */
  store(
    secretUid: string,
    version: number,
    source: DataKeySource,
    handle: CachedDataKey,
    generation: number,
  ): void {
    if (!this.enabled || !this.#invalidation.fresh) return;
    if (!this.#guard.keeps(generation, source.secretName)) return;
    if (source.keyName !== undefined && !this.#guard.keeps(generation, source.keyName)) return;
    const id = `${secretUid}\u0000${version}`;
    const old = this.#entries.get(id);
    if (old) this.#remove(old);
    const entry: Entry = {
      id,
      handle,
      wrappedKey: ownCopy(source.wrappedKey),
      secretName: source.secretName,
      keyName: source.keyName,
      until: this.#now() + this.#ttlMs,
    };
    this.#entries.set(id, entry);
    index(this.#bySecret, entry.secretName, id);
    if (entry.keyName !== undefined) index(this.#byKey, entry.keyName, id);
    while (this.#entries.size > this.#maxEntries) this.#remove(this.#entries.values().next().value!);
    if (this.#sweeper === undefined) this.#sweeper = this.#sweepAt(entry.until);
  }

  /** Drops expired entries (the oldest first) and re-arms for the next expiry. */
  #sweepAt(at: number): NodeJS.Timeout {
    const timer = setTimeout(
      () => {
        this.#sweeper = undefined;
        const now = this.#now();
        for (const entry of this.#entries.values()) {
          if (entry.until > now) {
            this.#sweeper = this.#sweepAt(entry.until);
            return;
          }
          this.#remove(entry);
        }
      },
      Math.max(1, at - this.#now()),
    );
    timer.unref();
    return timer;
  }

  #remove(entry: Entry): void {
    if (this.#entries.get(entry.id) !== entry) return;
    this.#entries.delete(entry.id);
    unindex(this.#bySecret, entry.secretName, entry.id);
    if (entry.keyName !== undefined) unindex(this.#byKey, entry.keyName, entry.id);
  }

  #removeAll(index: Map<string, Set<string>>, name: string): void {
    const ids = index.get(name);
    if (!ids) return;
    for (const id of [...ids]) {
      const entry = this.#entries.get(id);
      if (entry) this.#remove(entry);
    }
    index.delete(name);
  }

  /** A resource drops the entries of the secret or key it names, or of every one under it. */
  #drop(what: Invalidation): void {
    if (what === 'all') {
      this.#entries.clear();
      this.#bySecret.clear();
      this.#byKey.clear();
      return;
    }
    if (this.#entries.size === 0) return;
    for (const resource of what) {
      const depth = slashes(resource);
      if (depth >= leafDepth) {
        // A secret or key, or something under one (a version): that secret or key.
        const leaf = depth === leafDepth ? resource : cut(resource, leafDepth);
        this.#removeAll(this.#bySecret, leaf);
        this.#removeAll(this.#byKey, leaf);
        continue;
      }
      // A name above secrets and keys (instance, key ring, region, project, …): all under it.
      for (const index of [this.#bySecret, this.#byKey])
        for (const name of [...index.keys()]) if (covers(resource, name)) this.#removeAll(index, name);
    }
  }
}

/** A copy in its own memory (`Buffer.from` of a small buffer is a view of a shared 8 KiB slab). */
function ownCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}

function index(map: Map<string, Set<string>>, name: string, id: string): void {
  let ids = map.get(name);
  if (!ids) map.set(name, (ids = new Set()));
  ids.add(id);
}

function unindex(map: Map<string, Set<string>>, name: string, id: string): void {
  const ids = map.get(name);
  ids?.delete(id);
  if (ids?.size === 0) map.delete(name);
}
