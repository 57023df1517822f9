import type { ChangeRecorder } from '../audit/audit-outbox.ts';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { isUuid, newUuid } from '../core/ids.ts';
import { clampPageSize, decodePageToken, type Page, toPage } from '../core/pagination.ts';
import type { ProjectService } from '../projects/project-service.ts';
import { type Storage, WriteRejected } from '../storage/storage-types.ts';
import type { KeyMaterialStore } from './key-material-store.ts';
import { KeyRotation } from './key-rotation.ts';
import { runKmsDueJobs } from './kms-due-jobs.ts';
import type { KmsMetadataCache } from './kms-metadata-cache.ts';
import {
  KeyVersionLifecycle,
  type VersionChangeOptions,
  type VersionDependentsFinder,
} from './key-version-lifecycle.ts';
import { dayMs, type KeyAction, newKeyPurpose, nextKeyState, type VersionAction } from './kms-fns.ts';
import { keyChange, keyChangeTypes } from './kms-changes.ts';
import type { KeyChanges, KmsRepo } from './kms-repo.ts';
import type {
  CreateKeyInput,
  CryptoKey,
  DependentsCounter,
  KeyRing,
  KeyVersion,
  KmsJobEvent,
  KmsLocation,
} from './kms-types.ts';
import { keyResourceName } from './kms-types.ts';

/**
 * Key rings, keys and versions, and their lifecycle (SPEC §5). Callers are authorized before they
 * get here (the HTTP guard); this checks existence, input and state, in SPEC §4's order.
 */
export class KmsService {
  readonly #storage: Storage;
  readonly #repo: KmsRepo;
  readonly #projects: ProjectService;
  readonly #clock: Clock;
  readonly #versions: KeyVersionLifecycle;
  readonly #rotation: KeyRotation;
  readonly #cache: KmsMetadataCache;
  #dependents: DependentsCounter = async () => 0;

  constructor(
    storage: Storage,
    repo: KmsRepo,
    materials: KeyMaterialStore,
    projects: ProjectService,
    clock: Clock,
    cache: KmsMetadataCache,
  ) {
    this.#storage = storage;
    this.#cache = cache;
    this.#repo = repo;
    this.#projects = projects;
    this.#clock = clock;
    this.#versions = new KeyVersionLifecycle(storage, repo, clock);
    this.#rotation = new KeyRotation(storage, repo, materials);
  }

  /** Installs the dependents counter (Secrets Manager does, once it exists). */
  setDependentsCounter(counter: DependentsCounter): void {
    this.#dependents = counter;
  }

  /** Installs what finds a key version's dependents (Secrets Manager does, once it exists). */
  setVersionDependentsFinder(finder: VersionDependentsFinder): void {
    this.#versions.setDependentsFinder(finder);
  }

  /** Checks that the project and region exist (`not_found`). */
  async requireLocation(location: KmsLocation): Promise<void> {
    await this.#projects.get(location.projectId);
    this.#projects.region(location.regionId);
  }

  /** Creates a key ring. */
  async createKeyRing(
    location: KmsLocation,
    input: { id?: string; displayName: string; description?: string },
  ): Promise<KeyRing> {
    await this.requireLocation(location);
    if (input.id !== undefined && !isUuid(input.id)) throw errors.invalid('id must be a lowercase UUID.');
    const ring: KeyRing = {
      ...location,
      id: input.id ?? newUuid(),
      displayName: input.displayName,
      description: input.description ?? '',
      createTimeMs: this.#clock.nowMs(),
    };
    await this.#write([this.#repo.insertKeyRing(ring)], `Key ring ${ring.id}`);
    return ring;
  }

  /** One key ring. */
  async getKeyRing(location: KmsLocation, id: string): Promise<KeyRing> {
    await this.requireLocation(location);
    const ring = await this.#repo.findKeyRing(location, id);
    if (!ring) throw errors.notFound(`Key ring ${id}`);
    return ring;
  }

  /** A page of key rings. */
  async listKeyRings(location: KmsLocation, pageSize?: number, pageToken?: string): Promise<Page<KeyRing>> {
    await this.requireLocation(location);
    const size = clampPageSize(pageSize);
    return toPage(
      await this.#repo.listKeyRings(location, decodePageToken(pageToken), size + 1),
      size,
      (r) => r.id,
    );
  }

  /** Creates a key with its first version (primary). */
  async createKey(location: KmsLocation, keyRingId: string, input: CreateKeyInput): Promise<CryptoKey> {
    await this.getKeyRing(location, keyRingId);
    const purpose = newKeyPurpose(input);
    const now = this.#clock.nowMs();
    const key: CryptoKey = {
      ...location,
      uid: newUuid(),
      keyRingId,
      id: input.id ?? newUuid(),
      slug: input.slug ?? null,
      displayName: input.displayName ?? '',
      algorithm: input.algorithm,
      purpose,
      state: 'active',
      primaryVersion: 1,
      rotationPeriodSeconds: input.rotationPeriodSeconds ?? null,
      nextRotationTimeMs: input.rotationPeriodSeconds ? now + input.rotationPeriodSeconds * 1000 : null,
      deletionTimeMs: null,
      createTimeMs: now,
      updateTimeMs: now,
    };
    const version = await this.#rotation.newVersion(key, 1, now);
    try {
      await this.#storage.write([
        this.#repo.insertKey(key),
        version,
        keyChange(this.#storage.db, 'key.created', key, now, 1),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected && err.reason === 'unique') {
        const bySlug = key.slug !== null && (await this.#repo.findKeyBySlug(location, key.slug));
        throw errors.alreadyExists(bySlug ? `A key with slug ${key.slug}` : `Key ${key.id}`);
      }
      throw err;
    }
    return key;
  }

  /** One key; every state is readable. Served from the metadata cache when it holds the key. */
  async getKey(location: KmsLocation, keyRingId: string, keyId: string): Promise<CryptoKey> {
    // A cached project exists: no async step for it (every encrypt and decrypt asks).
    if (this.#projects.isCached(location.projectId)) this.#projects.region(location.regionId);
    else await this.requireLocation(location);
    const name = keyResourceName({ ...location, keyRingId, id: keyId });
    const key = await this.#cache.keyByName(name, () => this.#repo.findKey(location, keyRingId, keyId));
    if (!key) throw errors.notFound(`Key ${keyId}`);
    return key;
  }

  /** One key as storage holds it now (what a change compares and sets against). */
  async #currentKey(location: KmsLocation, keyRingId: string, keyId: string): Promise<CryptoKey> {
    await this.requireLocation(location);
    const key = await this.#repo.findKey(location, keyRingId, keyId);
    if (!key) throw errors.notFound(`Key ${keyId}`);
    return key;
  }

  /** A key by internal uid (what secrets and ciphertexts record); from the metadata cache on a hit. */
  findKeyByUid(uid: string): Promise<CryptoKey | undefined> {
    return this.#cache.keyByUid(uid, () => this.#repo.findKeyByUid(uid));
  }

  /** Keys with this ring and key id in any project. */
  findKeysAnywhere(keyRingId: string, keyId: string): Promise<CryptoKey[]> {
    return this.#repo.findKeysAnywhere(keyRingId, keyId);
  }

  /** One version's metadata by key uid. */
  findVersionByUid(keyUid: string, version: number): Promise<KeyVersion | undefined> {
    return this.#repo.findVersion(keyUid, version);
  }

  /** A key by its identity: full resource name or slug (SPEC §3). */
  async findKeyByIdentity(location: KmsLocation, identity: string): Promise<CryptoKey | undefined> {
    const match = /^projects\/([^/]+)\/regions\/([^/]+)\/keyrings\/([^/]+)\/keys\/([^/]+)$/.exec(identity);
    if (match) {
      return this.#repo.findKey({ projectId: match[1]!, regionId: match[2]! }, match[3]!, match[4]!);
    }
    return this.#repo.findKeyBySlug(location, identity);
  }

  /** A page of keys of a ring. */
  async listKeys(
    location: KmsLocation,
    keyRingId: string,
    pageSize?: number,
    pageToken?: string,
  ): Promise<Page<CryptoKey>> {
    await this.getKeyRing(location, keyRingId);
    const size = clampPageSize(pageSize);
    const rows = await this.#repo.listKeys(location, keyRingId, decodePageToken(pageToken), size + 1);
    return toPage(rows, size, (k) => k.id);
  }

  /** Adds a version and makes it primary; old versions keep decrypting. */
  async rotate(location: KmsLocation, keyRingId: string, keyId: string): Promise<CryptoKey> {
    for (let attempt = 0; ; attempt++) {
      const key = await this.#currentKey(location, keyRingId, keyId);
      nextKeyState(key.state, 'rotate');
      try {
        return await this.#rotation.rotate(key, this.#clock.nowMs());
      } catch (err) {
        if (!(err instanceof WriteRejected) || attempt >= 4) throw mapConcurrent(err);
      }
    }
  }

  /** Applies a lifecycle action to a key. Disabling or deleting a key with dependents needs `force`. */
  async changeState(
    location: KmsLocation,
    keyRingId: string,
    keyId: string,
    action: Exclude<KeyAction, 'rotate'>,
    options: { force?: boolean; pendingWindowDays?: number } = {},
  ): Promise<CryptoKey> {
    const key = await this.#currentKey(location, keyRingId, keyId);
    const days = options.pendingWindowDays ?? 30;
    if (action === 'schedule_deletion' && (!Number.isInteger(days) || days < 7 || days > 30)) {
      throw errors.invalid('pendingWindowDays must be a whole number from 7 to 30.');
    }
    const state = nextKeyState(key.state, action);
    if (
      (action === 'disable' || action === 'schedule_deletion') &&
      key.state === 'active' &&
      !options.force
    ) {
      const count = await this.#dependents(key);
      if (count > 0) {
        throw new CofferError(
          'conflict',
          `${count} secrets or instances depend on this key (GET …/dependents); repeat with ?force=true to proceed.`,
        );
      }
    }
    if (state === key.state) {
      this.#cache.forget(key); // Already in effect, maybe by a late commit: serve nothing older.
      return key;
    }
    const now = this.#clock.nowMs();
    const changes: KeyChanges = {
      state,
      updateTimeMs: now,
      deletionTimeMs: action === 'schedule_deletion' ? now + days * dayMs : null,
    };
    await this.#writeKeyChange(key, changes, keyChangeTypes[action]);
    return { ...key, ...changes } as CryptoKey;
  }

  /** A page of a key's versions. */
  async listVersions(
    location: KmsLocation,
    keyRingId: string,
    keyId: string,
    pageSize?: number,
    pageToken?: string,
  ): Promise<Page<KeyVersion>> {
    const key = await this.getKey(location, keyRingId, keyId);
    const size = clampPageSize(pageSize);
    const after = decodePageToken(pageToken);
    const rows = await this.#repo.listVersions(
      key.uid,
      after === undefined ? undefined : Number(after),
      size + 1,
    );
    return toPage(rows, size, (v) => String(v.version));
  }

  /** One version of a key. */
  async getVersion(
    location: KmsLocation,
    keyRingId: string,
    keyId: string,
    version: number,
  ): Promise<{ key: CryptoKey; version: KeyVersion }> {
    const key = await this.getKey(location, keyRingId, keyId);
    const found = await this.#repo.findVersion(key.uid, version);
    if (!found) throw errors.notFound(`Key version ${version}`);
    return { key, version: found };
  }

  /**
   * Enables, disables, destroys (crypto-shreds; scheduled when secrets depend on the version and
   * `force` is given) or restores a version. The primary version cannot be destroyed.
   */
  async changeVersionState(
    location: KmsLocation,
    keyRingId: string,
    keyId: string,
    number: number,
    action: VersionAction,
    options: VersionChangeOptions = {},
  ): Promise<KeyVersion> {
    const key = await this.#currentKey(location, keyRingId, keyId);
    const version = await this.#repo.findVersion(key.uid, number);
    if (!version) throw errors.notFound(`Key version ${number}`);
    const changed = await this.#versions.change(key, version, action, options);
    if (changed === version) this.#cache.forget(key); // Already in effect (see changeState).
    return changed;
  }

  /**
   * Background work, safe on every node at once: rotations that are due and deletions whose window
   * has ended. Each change is a compare-and-set on the key row, so exactly one node applies it.
   */
  runDueJobs(record: ChangeRecorder<KmsJobEvent>): Promise<KmsJobEvent[]> {
    return runKmsDueJobs(
      {
        storage: this.#storage,
        repo: this.#repo,
        clock: this.#clock,
        versions: this.#versions,
        rotation: this.#rotation,
      },
      record,
    );
  }

  async #writeKeyChange(key: CryptoKey, changes: KeyChanges, type: string): Promise<void> {
    try {
      await this.#storage.write([
        this.#repo.updateKey(key, changes),
        keyChange(this.#storage.db, type, key, changes.updateTimeMs ?? this.#clock.nowMs()),
      ]);
    } catch (err) {
      throw mapConcurrent(err);
    }
  }

  async #write(statements: Parameters<Storage['write']>[0], what: string): Promise<void> {
    try {
      await this.#storage.write(statements);
    } catch (err) {
      if (err instanceof WriteRejected && err.reason === 'unique') throw errors.alreadyExists(what);
      throw err;
    }
  }
}

function mapConcurrent(err: unknown): unknown {
  if (err instanceof WriteRejected) return errors.conflict('The key was changed concurrently; retry.');
  return err;
}
