import type { Clock } from '../core/clock.ts';
import { errors, isCofferError } from '../core/errors.ts';
import { type Storage, WriteRejected } from '../storage/storage-types.ts';
import { keyChange } from './kms-changes.ts';
import type { KmsAlias } from './kms-extras-types.ts';
import type { KmsExtrasRepo } from './kms-extras-repo.ts';
import { awsKeyRingId, type KmsKeyExtrasService, namedUuid } from './kms-key-extras-service.ts';
import type { KmsService } from './kms-service.ts';
import type { CryptoKey, KmsLocation } from './kms-types.ts';

/** Alias names: `alias/` then letters, digits, `/`, `_`, `-` (AWS's rule), 256 characters at most. */
export const aliasNamePattern = /^alias\/[a-zA-Z0-9/_-]+$/;

/** The prefix reserved for keys Coffer manages for AWS services (`alias/aws/secretsmanager`). */
export const managedAliasPrefix = 'alias/aws/';

/** The AWS services that have a managed key. */
const managedKeyServices = ['secretsmanager'] as const;
/** An AWS service that has a managed key. */
export type ManagedKeyService = (typeof managedKeyServices)[number];

/** The id of a location's managed key of `service` (in the `aws` key ring): the same on every node. */
export function managedKeyId(location: KmsLocation, service: ManagedKeyService): string {
  return namedUuid('coffer', 'aws-managed-key', location.projectId, location.regionId, service);
}

/**
 * Whether a key id in a key ring of a location is a managed key's, which no caller may choose: a key
 * made there first (through the native API, which takes ids) would become the service's default key
 * on its first use (`ensureManagedKey` adopts the key of that id), as a customer-managed key.
 */
export function isManagedKeyId(location: KmsLocation, keyRingId: string, id: string): boolean {
  return keyRingId === awsKeyRingId && managedKeyServices.some((s) => managedKeyId(location, s) === id);
}

/**
 * Aliases (issue #18): names `alias/…` unique per project and region, each naming one key of that
 * location; and the managed keys of AWS services (`alias/aws/<service>`), made on first use. Callers
 * authorize first and check the name's rules (reserved prefix) for user requests.
 */
export class KmsAliasService {
  readonly #storage: Storage;
  readonly #repo: KmsExtrasRepo;
  readonly #kms: KmsService;
  readonly #extras: KmsKeyExtrasService;
  readonly #clock: Clock;

  constructor(
    storage: Storage,
    repo: KmsExtrasRepo,
    kms: KmsService,
    extras: KmsKeyExtrasService,
    clock: Clock,
  ) {
    this.#storage = storage;
    this.#repo = repo;
    this.#kms = kms;
    this.#extras = extras;
    this.#clock = clock;
  }

  /** One alias, if it exists. */
  find(location: KmsLocation, name: string): Promise<KmsAlias | undefined> {
    return this.#repo.findAlias(location, name);
  }

  /** Aliases of a location (or of one key), one page by name (`limit` + 1 rows tell whether more follow). */
  list(location: KmsLocation, keyUid: string | undefined, after: string | undefined, limit: number) {
    return this.#repo.listAliases(location, keyUid, after, limit);
  }

  /** Creates an alias for `key` (`already_exists` when the name is taken). */
  async create(name: string, key: CryptoKey): Promise<KmsAlias> {
    if (!aliasNamePattern.test(name) || name.length > 256)
      throw errors.invalid(`Invalid alias name ${name}.`);
    const now = this.#clock.nowMs();
    const alias: KmsAlias = {
      projectId: key.projectId,
      regionId: key.regionId,
      name,
      keyUid: key.uid,
      createTimeMs: now,
      updateTimeMs: now,
    };
    try {
      await this.#storage.write([
        this.#repo.insertAlias(alias),
        keyChange(this.#storage.db, 'key.updated', key, now),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected && err.reason === 'unique')
        throw errors.alreadyExists(`Alias ${name}`);
      throw err;
    }
    return alias;
  }

  /** Points an existing alias at another key of the same location. */
  async retarget(alias: KmsAlias, key: CryptoKey): Promise<void> {
    if (key.projectId !== alias.projectId || key.regionId !== alias.regionId)
      throw errors.invalid('An alias names a key of its own project and region.');
    const now = this.#clock.nowMs();
    try {
      await this.#storage.write([
        this.#repo.retargetAlias(alias, key.uid, now),
        keyChange(this.#storage.db, 'key.updated', key, now),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected) throw errors.conflict('The alias was changed concurrently; retry.');
      throw err;
    }
  }

  /** Deletes an alias (`not_found` when a concurrent delete came first). */
  async delete(alias: KmsAlias, key: CryptoKey | undefined): Promise<void> {
    const now = this.#clock.nowMs();
    try {
      await this.#storage.write([
        this.#repo.deleteAlias(alias),
        ...(key ? [keyChange(this.#storage.db, 'key.updated', key, now)] : []),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected) throw errors.notFound(`Alias ${alias.name}`);
      throw err;
    }
  }

  /**
   * The managed key of an AWS service in a location (`alias/aws/<service>`, key manager AWS): made on
   * first use with an id named by the location and service, so concurrent first uses on any node
   * create one key and one alias.
   */
  async ensureManagedKey(location: KmsLocation, service: ManagedKeyService): Promise<CryptoKey> {
    const name = `${managedAliasPrefix}${service}`;
    const existing = await this.#repo.findAlias(location, name);
    if (existing) {
      const key = await this.#kms.findKeyByUid(existing.keyUid);
      if (key) return key;
    }
    const id = managedKeyId(location, service);
    let key: CryptoKey;
    try {
      key = await this.#extras.createKey(
        location,
        { id, algorithm: 'aes256-gcm96' },
        {
          description: `Default key that protects my ${service} data when no other key is defined`,
          keyManager: 'AWS',
        },
      );
    } catch (err) {
      if (!isCofferError(err, 'already_exists')) throw err;
      key = await this.#kms.getKey(location, awsKeyRingId, id);
    }
    try {
      await this.create(name, key);
    } catch (err) {
      if (!isCofferError(err, 'already_exists')) throw err;
      const winner = await this.#repo.findAlias(location, name);
      const found = winner && (await this.#kms.findKeyByUid(winner.keyUid));
      if (found) return found;
    }
    return key;
  }
}

/**
 * The key of `alias/aws/<service>` in a project region, created with its alias on first use
 * (idempotent under concurrency). Takes the app (anything with `kmsAliases`), as the AWS faces do.
 */
export function ensureAwsManagedKey(
  app: { readonly kmsAliases: KmsAliasService },
  projectId: string,
  regionId: string,
  service: ManagedKeyService,
): Promise<CryptoKey> {
  return app.kmsAliases.ensureManagedKey({ projectId, regionId }, service);
}
