import { randomBytes } from 'node:crypto';
import type { ChangeRecorder } from '../audit/audit-outbox.ts';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { newUuid } from '../core/ids.ts';
import { clampPageSize, decodePageToken, type Page, toPage } from '../core/pagination.ts';
import { algorithmInfo } from '../crypto/kms-algorithms.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { IamRepo } from '../iam/iam-repo.ts';
import type { Principal } from '../iam/principal.ts';
import type { KmsService } from '../kms/kms-service.ts';
import { type CryptoKey, keyResourceName } from '../kms/kms-types.ts';
import { type Storage, WriteRejected, type WriteStatement } from '../storage/storage-types.ts';
import type { InstanceService } from './instance-service.ts';
import { checkLabels, checkSecretPath, type RotationInput, rotationFields } from './secret-fns.ts';
import {
  type Instance,
  type Secret,
  type SecretTag,
  type SecretsLocation,
  secretName,
} from './secret-types.ts';
import { checkDescription, checkTags, maxTags, newArnSuffix } from './secret-attribute-fns.ts';
import { secretChange } from './secret-changes.ts';
import type { InstanceRepo } from './instance-repo.ts';
import type { SecretMetadataCache } from './secret-metadata-cache.ts';
import type { LabelFilter, SecretsRepo } from './secrets-repo.ts';

/** Metadata a caller may set at creation. */
export interface SecretInput {
  readonly path: string;
  readonly kmsKeyIdentity?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly expireTimeMs?: number;
  readonly rotation?: RotationInput;
  readonly description?: string;
  readonly tags?: readonly SecretTag[];
  /**
   * A key the service itself chose (the AWS face's `alias/aws/secretsmanager`), bound like
   * `kmsKeyIdentity` but without the caller's `kms.encrypt` check, as a secret following its
   * instance key needs none; instead of `kmsKeyIdentity`.
   */
  readonly managedKey?: CryptoKey;
}

/** Metadata a caller may change. */
export interface SecretPatch {
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly expireTimeMs?: number | null;
  readonly rotation?: RotationInput | null;
}

/** A secret's key as the API shows it: identity (full name, null under root protection) and status. */
export interface SecretKeyInfo {
  readonly identity: string | null;
  readonly status: string;
}

/** A background change worth auditing. */
export interface SecretJobEvent {
  readonly action: 'secrets.secrets.purge' | 'secrets.secrets.expire' | 'secrets.rotation_due';
  readonly secret: Secret;
}

/**
 * Secret metadata (SPEC §6): create with an immutable key binding, list by prefix, get (in every key
 * state, with `kmsKey: {identity, status}`), patch with etag, soft delete with a recovery window,
 * restore, purge; and the background jobs for expiry, purge and rotation schedules.
 */
export class SecretService {
  readonly #storage: Storage;
  readonly #repo: SecretsRepo;
  readonly #instanceRepo: InstanceRepo;
  readonly #instances: InstanceService;
  readonly #kms: KmsService;
  readonly #authorizer: Authorizer;
  readonly #iamRepo: IamRepo;
  readonly #clock: Clock;
  readonly #cache: SecretMetadataCache;

  constructor(deps: {
    storage: Storage;
    repo: SecretsRepo;
    instanceRepo: InstanceRepo;
    instances: InstanceService;
    kms: KmsService;
    authorizer: Authorizer;
    iamRepo: IamRepo;
    clock: Clock;
    cache: SecretMetadataCache;
  }) {
    this.#storage = deps.storage;
    this.#cache = deps.cache;
    this.#repo = deps.repo;
    this.#instanceRepo = deps.instanceRepo;
    this.#instances = deps.instances;
    this.#kms = deps.kms;
    this.#authorizer = deps.authorizer;
    this.#iamRepo = deps.iamRepo;
    this.#clock = deps.clock;
  }

  /** Resolves and checks the key a new secret binds to (SPEC §6); the caller needs kms.encrypt on it. */
  async resolveBinding(instance: Instance, identity: string, caller: Principal): Promise<CryptoKey> {
    const key = await this.#kms.findKeyByIdentity(instance, identity);
    if (!key) {
      // Do not reveal whether a key exists to a caller who could not use it anyway.
      if (
        !(await this.#authorizer.holds(
          caller,
          'kms.encrypt',
          `projects/${instance.projectId}/regions/${instance.regionId}`,
        ))
      ) {
        throw errors.denied();
      }
      throw errors.invalid(`kmsKeyIdentity ${identity} names no key.`);
    }
    if (!(await this.#authorizer.holds(caller, 'kms.encrypt', keyResourceName(key)))) throw errors.denied();
    if (key.regionId !== instance.regionId)
      throw new CofferError('region_mismatch', 'The key lives in another region than the secret.');
    if (key.projectId !== instance.projectId)
      throw new CofferError('project_mismatch', 'The key lives in another project than the secret.');
    if (algorithmInfo[key.algorithm].family !== 'symmetric') {
      throw errors.invalid(
        `A ${key.algorithm} key cannot protect secrets; only symmetric encryption keys can.`,
      );
    }
    if (key.state !== 'active') throw new CofferError('key_not_active', `The key is ${key.state}.`);
    return key;
  }

  /** Validates input and builds a new secret (not stored); `statements` adds its row. */
  async prepare(
    instance: Instance,
    input: SecretInput,
    caller: Principal,
  ): Promise<{ secret: Secret; key?: CryptoKey }> {
    checkSecretPath(input.path);
    checkLabels(input.labels ?? {}, 'labels');
    checkLabels(input.annotations ?? {}, 'annotations');
    const now = this.#clock.nowMs();
    if (input.expireTimeMs !== undefined && input.expireTimeMs <= now)
      throw errors.invalid('expireTime must be in the future.');
    if (input.description !== undefined) checkDescription(input.description);
    if (input.tags) {
      checkTags(input.tags);
      if (input.tags.length > maxTags) throw errors.invalid(`A secret has at most ${maxTags} tags.`);
      if (new Set(input.tags.map((t) => t.key)).size !== input.tags.length)
        throw errors.invalid('tags lists a key twice.');
    }
    const key =
      input.managedKey !== undefined
        ? this.#checkManagedKey(instance, input.managedKey)
        : input.kmsKeyIdentity !== undefined
          ? await this.resolveBinding(instance, input.kmsKeyIdentity, caller)
          : undefined;
    const rotation = rotationFields(input.rotation ?? null, now);
    const secret: Secret = {
      uid: newUuid(),
      projectId: instance.projectId,
      regionId: instance.regionId,
      instanceId: instance.id,
      path: input.path,
      kmsKeyUid: key?.uid ?? null,
      labels: input.labels ?? {},
      annotations: input.annotations ?? {},
      expireTimeMs: input.expireTimeMs ?? null,
      ...rotation,
      deleteTimeMs: null,
      nextVersion: 1,
      etag: randomBytes(9).toString('base64url'),
      createTimeMs: now,
      updateTimeMs: now,
      description: input.description ?? null,
      ...(input.tags ? { tags: input.tags } : {}),
      arnSuffix: newArnSuffix(),
    };
    return key ? { secret, key } : { secret };
  }

  /** A service-chosen key must be symmetric, active, and of the instance's project and region. */
  #checkManagedKey(instance: Instance, key: CryptoKey): CryptoKey {
    if (key.projectId !== instance.projectId || key.regionId !== instance.regionId)
      throw new CofferError('project_mismatch', 'The managed key lives elsewhere than the secret.');
    if (algorithmInfo[key.algorithm].family !== 'symmetric')
      throw errors.invalid(`A ${key.algorithm} key cannot protect secrets.`);
    if (key.state !== 'active') throw new CofferError('key_not_active', `The key is ${key.state}.`);
    return key;
  }

  /** Stores a prepared secret with extra statements (a first version); `already_exists` on a taken path. */
  async insert(secret: Secret, extra: readonly WriteStatement[]): Promise<void> {
    try {
      await this.#storage.write([
        this.#repo.insertSecret(secret),
        ...extra,
        secretChange(this.#storage.db, 'secret.created', secret, secret.createTimeMs, {
          ...(secret.nextVersion > 1 ? { version: 1 } : {}),
        }),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected && err.reason === 'unique' && err.statementIndex === 0) {
        throw errors.alreadyExists(
          `A secret at path ${secret.path} (a secret pending deletion keeps its path until purged)`,
        );
      }
      throw err;
    }
  }

  /** One secret by path, in any state (from the metadata cache unless `fresh`). */
  async get(
    location: SecretsLocation,
    instanceId: string,
    path: string,
    fresh = false,
  ): Promise<{ instance: Instance; secret: Secret }> {
    const instance = await this.#instances.get(location, instanceId, fresh);
    const secret = await this.#cache.secret(
      instance,
      path,
      () => this.#repo.findSecret(instance, path),
      fresh,
    );
    if (!secret) throw errors.notFound(`Secret ${path}`);
    return { instance, secret };
  }

  /** One secret by path in an instance already read (from the metadata cache); a batch reads its instance once. */
  async inInstance(instance: Instance, path: string): Promise<Secret> {
    const secret = await this.#cache.secret(instance, path, () => this.#repo.findSecret(instance, path));
    if (!secret) throw errors.notFound(`Secret ${path}`);
    return secret;
  }

  /** A page of secrets by path, optionally under a prefix and with every one of `labels`. */
  async list(
    location: SecretsLocation,
    instanceId: string,
    prefix?: string,
    pageSize?: number,
    pageToken?: string,
    labels: readonly LabelFilter[] = [],
  ): Promise<Page<Secret>> {
    const instance = await this.#instances.get(location, instanceId);
    const size = clampPageSize(pageSize);
    const rows = await this.#repo.listSecrets(instance, prefix, decodePageToken(pageToken), size + 1, labels);
    return toPage(rows, size, (s) => s.path);
  }

  /** The key a secret's values use now: its binding, else the instance key, else none (root). */
  async keyOf(instance: Instance, secret: Secret): Promise<CryptoKey | undefined> {
    if (secret.kmsKeyUid) return this.#kms.findKeyByUid(secret.kmsKeyUid);
    return this.#instances.instanceKey(instance);
  }

  /** `kmsKey: {identity, status}` for the metadata view. */
  async keyInfo(instance: Instance, secret: Secret): Promise<SecretKeyInfo> {
    const key = await this.keyOf(instance, secret);
    return key ? { identity: keyResourceName(key), status: key.state } : { identity: null, status: 'active' };
  }

  /** Changes metadata (etag-checked); the key binding cannot change. */
  async patch(
    location: SecretsLocation,
    instanceId: string,
    path: string,
    patch: SecretPatch,
    etag: string | undefined,
  ): Promise<Secret> {
    const { secret } = await this.get(location, instanceId, path, true);
    if (etag !== undefined && etag !== secret.etag)
      throw errors.conflict('The etag does not match the secret’s current etag.');
    if (patch.labels) checkLabels(patch.labels, 'labels');
    if (patch.annotations) checkLabels(patch.annotations, 'annotations');
    const now = this.#clock.nowMs();
    if (patch.expireTimeMs !== undefined && patch.expireTimeMs !== null && patch.expireTimeMs <= now) {
      throw errors.invalid('expireTime must be in the future.');
    }
    const rotation = patch.rotation === undefined ? undefined : rotationFields(patch.rotation, now);
    const next: Secret = {
      ...secret,
      labels: patch.labels ?? secret.labels,
      annotations: patch.annotations ?? secret.annotations,
      expireTimeMs: patch.expireTimeMs === undefined ? secret.expireTimeMs : patch.expireTimeMs,
      ...rotation,
      etag: randomBytes(9).toString('base64url'),
      updateTimeMs: now,
    };
    await this.#update(next, secret.etag, 'secret.updated');
    return next;
  }

  /** Soft-deletes (recovery window in days) or, with 0, purges at once. */
  async delete(
    location: SecretsLocation,
    instanceId: string,
    path: string,
    recoveryWindowDays: number,
  ): Promise<Secret | undefined> {
    const { secret } = await this.get(location, instanceId, path, true);
    if (recoveryWindowDays === 0) {
      await this.#storage.write(this.#purge(secret, 'secret.purged'));
      this.#authorizer.invalidate();
      return undefined;
    }
    if (secret.deleteTimeMs !== null)
      throw new CofferError('failed_precondition', 'The secret is already pending deletion.');
    const now = this.#clock.nowMs();
    const next = {
      ...secret,
      deleteTimeMs: now + recoveryWindowDays * 86_400_000,
      deletedTimeMs: now,
      etag: randomBytes(9).toString('base64url'),
      updateTimeMs: now,
    };
    await this.#update(next, secret.etag, 'secret.deleted');
    return next;
  }

  /** Restores a secret pending deletion. */
  async restore(location: SecretsLocation, instanceId: string, path: string): Promise<Secret> {
    const { secret } = await this.get(location, instanceId, path, true);
    if (secret.deleteTimeMs === null)
      throw new CofferError('failed_precondition', 'The secret is not pending deletion.');
    const next = {
      ...secret,
      deleteTimeMs: null,
      deletedTimeMs: null,
      etag: randomBytes(9).toString('base64url'),
      updateTimeMs: this.#clock.nowMs(),
    };
    await this.#update(next, secret.etag, 'secret.restored');
    return next;
  }

  /** Secrets and instances bound to a key (`GET …/keys/{key}/dependents`). */
  async dependents(key: CryptoKey): Promise<{ secrets: string[]; instances: string[] }> {
    const secrets = await this.#repo.secretsBoundToKey(key.uid, 1000);
    const instances = await this.#instanceRepo.instancesUsingKey(key.uid);
    return {
      secrets: secrets.map((s) => secretName({ ...s, instanceId: s.instanceId })),
      instances: instances.map((i) => `projects/${i.projectId}/regions/${i.regionId}/instances/${i.id}`),
    };
  }

  /** Purges expired secrets and those past their recovery window; records due rotations. */
  async runDueJobs(record: ChangeRecorder<SecretJobEvent>): Promise<SecretJobEvent[]> {
    const now = this.#clock.nowMs();
    const events: SecretJobEvent[] = [];
    const run = async (event: SecretJobEvent, change: () => Promise<void>) => {
      try {
        await record(event, change);
        events.push(event);
      } catch (err) {
        // Another node made this change first (compare-and-set): nothing was written here.
        if (!(err instanceof WriteRejected)) throw err;
      }
    };
    for (const [column, action, type] of [
      ['expire_time', 'secrets.secrets.expire', 'secret.expired'],
      ['delete_time', 'secrets.secrets.purge', 'secret.purged'],
    ] as const) {
      for (const secret of await this.#repo.secretsDue(column, now, 100)) {
        await run({ action, secret }, async () => {
          await this.#storage.write(this.#purge(secret, type));
          this.#authorizer.invalidate();
        });
      }
    }
    for (const secret of await this.#repo.secretsDue('next_rotation_time', now, 100)) {
      if (secret.rotationPeriodSeconds === null || secret.nextRotationTimeMs === null) continue;
      let next = secret.nextRotationTimeMs;
      while (next <= now) next += secret.rotationPeriodSeconds * 1000;
      const updated = { ...secret, nextRotationTimeMs: next, etag: randomBytes(9).toString('base64url') };
      await run({ action: 'secrets.rotation_due', secret }, async () => {
        await this.#storage.write([
          this.#repo.updateSecret(updated, secret.etag),
          secretChange(this.#storage.db, 'secret.rotation_due', secret, now),
        ]);
      });
    }
    return events;
  }

  /**
   * Everything of a purged secret goes, its policy too (a new secret at the path starts with none).
   * The change is recorded before the policy goes, with that policy's members as its audience: they
   * lose access in this unit and must still be told.
   */
  #purge(secret: Secret, type: 'secret.purged' | 'secret.expired'): WriteStatement[] {
    const name = secretName(secret);
    return [
      ...this.#repo.purgeSecret(secret.uid),
      secretChange(this.#storage.db, type, secret, this.#clock.nowMs(), { audienceOfOwnPolicy: true }),
      this.#iamRepo.deletePolicy(name),
    ];
  }

  async #update(next: Secret, expectedEtag: string, type: string): Promise<void> {
    try {
      await this.#storage.write([
        this.#repo.updateSecret(next, expectedEtag),
        secretChange(this.#storage.db, type, next, next.updateTimeMs),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected)
        throw errors.conflict('The secret was changed concurrently; read it again.');
      throw err;
    }
  }
}
