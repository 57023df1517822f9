import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { isUuid, newUuid } from '../core/ids.ts';
import { clampPageSize, decodePageToken, type Page, toPage } from '../core/pagination.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { IamRepo } from '../iam/iam-repo.ts';
import type { Principal } from '../iam/principal.ts';
import type { KmsService } from '../kms/kms-service.ts';
import { type CryptoKey, keyResourceName } from '../kms/kms-types.ts';
import type { ProjectService } from '../projects/project-service.ts';
import { type Storage, stmt, WriteRejected } from '../storage/storage-types.ts';
import { InstanceKeyAccess } from './instance-key-access.ts';
import type { InstanceRepo } from './instance-repo.ts';
import { instanceNameTaken, looksLikeUuid, requireInstanceName } from './instance-name.ts';
import { instanceChange } from './secret-changes.ts';
import {
  type Instance,
  type InstanceKmsKey,
  instanceName,
  type Operation,
  type SecretsLocation,
} from './secret-types.ts';
import type { SecretVersionRepo } from './secret-version-repo.ts';
import type { ValueCrypto } from './value-crypto.ts';
import { operationName, RewrapOperations } from './rewrap-operations.ts';
import type { SecretMetadataCache } from './secret-metadata-cache.ts';

const resolved = Promise.resolve();

export { type Operation, serviceIdentity } from './secret-types.ts';

/**
 * Secrets Manager instances exactly as seed 002: an optional `kmsKey` naming a symmetric key version
 * and the service account that KMS operations run as. Switching or removing the key starts a
 * rewrap operation that re-wraps every data key that follows the instance key; it is claimed by
 * lease, advances in small durable steps, and resumes on any node after a crash.
 */
export class InstanceService {
  readonly #storage: Storage;
  readonly #repo: InstanceRepo;
  readonly #kms: KmsService;
  readonly #projects: ProjectService;
  readonly #authorizer: Authorizer;
  readonly #iamRepo: IamRepo;
  readonly #clock: Clock;
  readonly #operations: RewrapOperations;
  readonly #keyAccess: InstanceKeyAccess;
  readonly #cache: SecretMetadataCache;

  constructor(deps: {
    storage: Storage;
    repo: InstanceRepo;
    versionRepo: SecretVersionRepo;
    kms: KmsService;
    projects: ProjectService;
    authorizer: Authorizer;
    iamRepo: IamRepo;
    crypto: ValueCrypto;
    audit: AuditLog;
    clock: Clock;
    logger: Logger;
    cache: SecretMetadataCache;
  }) {
    this.#storage = deps.storage;
    this.#cache = deps.cache;
    this.#repo = deps.repo;
    this.#kms = deps.kms;
    this.#projects = deps.projects;
    this.#authorizer = deps.authorizer;
    this.#iamRepo = deps.iamRepo;
    this.#clock = deps.clock;
    this.#keyAccess = new InstanceKeyAccess(deps);
    this.#operations = new RewrapOperations({
      ...deps,
      requireLocation: (location) => this.requireLocation(location),
      requireKmsFeature: (projectId) => this.requireKmsFeature(projectId),
    });
  }

  /** Checks that the project and region exist (`not_found`). */
  async requireLocation(location: SecretsLocation): Promise<void> {
    await this.#projects.get(location.projectId);
    this.#projects.region(location.regionId);
  }

  /** Creates an instance, validating its kmsKey (SPEC §6; a kmsKey needs the project's kms gate). */
  async create(
    location: SecretsLocation,
    input: { name: string; kmsKey?: InstanceKmsKey | null },
    caller: Principal,
  ): Promise<Instance> {
    requireInstanceName(input.name);
    await this.requireLocation(location);
    // A KMS key is the kms service at work, as a value read or write with one is: behind its gate.
    if (input.kmsKey) await this.requireKmsFeature(location.projectId);
    const id = newUuid();
    const key = input.kmsKey
      ? await this.#keyAccess.validate({ ...location, instanceId: id }, input.kmsKey, caller, true)
      : undefined;
    const now = this.#clock.nowMs();
    const instance: Instance = {
      ...location,
      id,
      name: input.name,
      kmsKey: input.kmsKey ?? null,
      kmsKeyUid: key?.uid ?? null,
      etag: randomBytes(9).toString('base64url'),
      createTimeMs: now,
      updateTimeMs: now,
    };
    await this.#storage
      .write([
        this.#repo.insertInstance(instance),
        instanceChange(this.#storage.db, 'instance.created', instance, now),
      ])
      .catch((err: unknown) => {
        throw err instanceof WriteRejected && err.reason === 'unique' ? instanceNameTaken(input.name) : err;
      });
    return instance;
  }

  /** One instance (from the metadata cache unless `fresh`: a change reads what it changes from storage). */
  async get(location: SecretsLocation, id: string, fresh = false): Promise<Instance> {
    await this.requireLocation(location);
    const instance = isUuid(id)
      ? await this.#cache.instance(location, id, () => this.#repo.findInstance(location, id), fresh)
      : undefined;
    if (!instance) throw errors.notFound(`Instance ${id}`);
    return instance;
  }

  /**
   * The id of the one instance named `name` in the location, for URLs that carry a name where the
   * id goes; undefined when none or several have that name (the URL then names no instance).
   */
  async idForName(location: SecretsLocation, name: string): Promise<string | undefined> {
    // A NUL matches no name PostgreSQL could store: no lookup (it would answer 400 before the 403).
    if (looksLikeUuid(name) || name.includes('\u0000')) return undefined;
    return this.#cache.instanceIdForName(location, name, async () => {
      const ids = await this.#repo.instanceIdsNamed(location, name, 2);
      return ids.length === 1 ? ids[0] : undefined;
    });
  }

  /** A page of instances. */
  async list(location: SecretsLocation, pageSize?: number, pageToken?: string): Promise<Page<Instance>> {
    await this.requireLocation(location);
    const size = clampPageSize(pageSize);
    return toPage(
      await this.#repo.listInstances(location, decodePageToken(pageToken), size + 1),
      size,
      (i) => i.id,
    );
  }

  /**
   * Renames an instance and sets, switches or removes its key (`kmsKey` omitted or null removes it,
   * as seed 002 says). A kmsKey needs the project's kms feature gate (`feature_disabled`). A key
   * change starts a rewrap operation, returned with the instance.
   */
  async update(
    location: SecretsLocation,
    id: string,
    input: { name: string; kmsKey?: InstanceKmsKey | null },
    caller: Principal,
    etag: string | undefined,
  ): Promise<{ instance: Instance; operation?: Operation }> {
    const current = await this.get(location, id, true);
    if (etag !== undefined && etag !== current.etag)
      throw errors.conflict('The etag does not match the instance’s current etag.');
    if (input.name !== current.name) requireInstanceName(input.name);
    const kmsKey = input.kmsKey ?? null;
    if (kmsKey) await this.requireKmsFeature(location.projectId);
    const key = kmsKey
      ? await this.#keyAccess.validate(
          { ...location, instanceId: id },
          kmsKey,
          caller,
          !sameKmsKey(current.kmsKey, kmsKey),
        )
      : undefined;
    const now = this.#clock.nowMs();
    const next: Instance = {
      ...current,
      name: input.name,
      kmsKey,
      kmsKeyUid: key?.uid ?? null,
      etag: randomBytes(9).toString('base64url'),
      updateTimeMs: now,
    };
    const keyChanged =
      current.kmsKeyUid !== next.kmsKeyUid || current.kmsKey?.keyVersion !== next.kmsKey?.keyVersion;
    if (current.kmsKeyUid !== null && current.kmsKeyUid !== next.kmsKeyUid)
      await this.#requireOldKeyUse(current, caller);
    const statements = [
      this.#repo.updateInstance(next, current.etag),
      instanceChange(this.#storage.db, keyChanged ? 'instance.key_switched' : 'instance.updated', next, now),
    ];
    let operation: Operation | undefined;
    if (keyChanged) {
      const opId = newUuid();
      statements.push(
        stmt(
          this.#storage.db.insertInto('sm_operations').values({
            id: opId,
            project_id: location.projectId,
            region_id: location.regionId,
            instance_id: id,
            kind: 'rewrap',
            target_key_uid: next.kmsKeyUid,
            target_key_version: next.kmsKey?.keyVersion ?? null,
            total: 0,
            done: 0,
            state: 'running',
            error: null,
            started_by: caller,
            source_service_account: current.kmsKey?.serviceAccountEmail ?? null,
            lease_until: 0,
            create_time: now,
            update_time: now,
          }),
        ),
      );
      operation = {
        id: opId,
        name: operationName(location, opId),
        done: false,
        state: 'running',
        progress: { total: 0, done: 0 },
      };
    }
    try {
      await this.#storage.write(statements);
    } catch (err) {
      if (err instanceof WriteRejected && err.reason === 'unique') throw instanceNameTaken(input.name);
      if (err instanceof WriteRejected)
        throw errors.conflict('The instance was changed concurrently; read it again.');
      throw err;
    }
    return operation ? { instance: next, operation } : { instance: next };
  }

  /** Deletes an instance that holds no secret and no database connection (`failed_precondition` otherwise). */
  async delete(location: SecretsLocation, id: string): Promise<void> {
    const instance = await this.get(location, id, true);
    if (await this.#repo.instanceHasSecrets(instance)) {
      throw new CofferError('failed_precondition', 'The instance still holds secrets; delete them first.');
    }
    if (await this.#repo.instanceHasDatabases(instance)) {
      throw new CofferError(
        'failed_precondition',
        'The instance still holds database connections; delete them first.',
      );
    }
    const name = instanceName({ ...instance, instanceId: instance.id });
    // Recorded before the policy goes, with its members as the audience (they lose access here).
    await this.#storage.write([
      this.#repo.deleteInstance(instance),
      instanceChange(this.#storage.db, 'instance.deleted', instance, this.#clock.nowMs(), true),
      this.#iamRepo.deletePolicy(name),
    ]);
  }

  /** `feature_disabled` unless the project's kms feature gate is on (values that use a KMS key). */
  requireKmsFeature(projectId: string): Promise<void> {
    // A cached project answers without a storage read or an async step (or refuses at once).
    if (this.#projects.hasFeatureCached(projectId, 'kms')) return resolved;
    return this.#projects.requireFeature(projectId, 'kms');
  }

  /** The instance key, if any. */
  async instanceKey(instance: Instance): Promise<CryptoKey | undefined> {
    return instance.kmsKeyUid ? this.#kms.findKeyByUid(instance.kmsKeyUid) : undefined;
  }

  /**
   * The identity KMS operations of this instance run as, re-checked now: the instance's service
   * account must still exist, be enabled, hold its role on the instance and may use `key`.
   */
  actingIdentity(instance: Instance, key: CryptoKey): Promise<string> {
    return this.#keyAccess.actingIdentity(instance, key);
  }

  /** A long-running operation. */
  getOperation(location: SecretsLocation, id: string): Promise<Operation> {
    return this.#operations.get(location, id);
  }

  /** Advances the rewrap operations whose lease is free (background work). */
  runOperations(): Promise<void> {
    return this.#operations.run();
  }

  /**
   * Moving an instance off its key re-encrypts every value with that key's help, and would undo a key
   * owner's disable of it: the caller must be able to use the old key itself (kms.decrypt), or act as
   * the instance's service account that can.
   */
  async #requireOldKeyUse(current: Instance, caller: Principal): Promise<void> {
    const oldKey = await this.instanceKey(current);
    if (!oldKey) return;
    const name = keyResourceName(oldKey);
    if (await this.#authorizer.holds(caller, 'kms.decrypt', name)) return;
    const email = current.kmsKey?.serviceAccountEmail;
    const account = email ? await this.#iamRepo.findServiceAccount(email) : undefined;
    if (
      email &&
      account &&
      !account.disabled &&
      (await this.#authorizer.holds(
        caller,
        'iam.service_accounts.act_as',
        `projects/${account.projectId}/service-accounts/${email}`,
      )) &&
      (await this.#authorizer.holds(`serviceAccount:${email}` as Principal, 'kms.decrypt', name))
    )
      return;
    throw new CofferError(
      'permission_denied',
      `Switching or removing the instance key needs kms.decrypt on the current key ${name}, ` +
        `or iam.service_accounts.act_as on a service account that holds it.`,
    );
  }
}

function sameKmsKey(a: InstanceKmsKey | null, b: InstanceKmsKey): boolean {
  return (
    a !== null &&
    (['projectId', 'regionId', 'keyRingId', 'keyId', 'keyVersion', 'serviceAccountEmail'] as const).every(
      (field) => a[field] === b[field],
    )
  );
}
