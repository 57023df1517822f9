import { randomBytes } from 'node:crypto';
import type { ChangeRecorder } from '../audit/audit-outbox.ts';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { clampPageSize, decodePageToken, type Page, toPage } from '../core/pagination.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { IamRepo } from '../iam/iam-repo.ts';
import type { Principal } from '../iam/principal.ts';
import type { KmsService } from '../kms/kms-service.ts';
import { type CryptoKey, keyResourceName } from '../kms/kms-types.ts';
import { type Storage, WriteRejected, type WriteStatement } from '../storage/storage-types.ts';
import type { InstanceService } from './instance-service.ts';
import { checkLabels, type RotationInput, rotationFields } from './secret-fns.ts';
import { type Instance, type Secret, type SecretsLocation, secretName } from './secret-types.ts';
import { secretChange } from './secret-changes.ts';
import type { InstanceRepo } from './instance-repo.ts';
import type { SecretMetadataCache } from './secret-metadata-cache.ts';
import type { LabelFilter, SecretsRepo } from './secrets-repo.ts';
import { type SecretInput, SecretPreparation } from './secret-preparation.ts';

export type { SecretInput } from './secret-preparation.ts';

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
  readonly #preparation: SecretPreparation;

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
    this.#preparation = new SecretPreparation(deps);
  }

  /** Resolves and checks the key a new secret binds to (SPEC §6); the caller needs kms.encrypt on it. */
  resolveBinding(instance: Instance, identity: string, caller: Principal): Promise<CryptoKey> {
    return this.#preparation.resolveBinding(instance, identity, caller);
  }

  /** Validates input and builds a new secret (not stored); `statements` adds its row. */
  prepare(
    instance: Instance,
    input: SecretInput,
    caller: Principal,
  ): Promise<{ secret: Secret; key?: CryptoKey }> {
    return this.#preparation.prepare(instance, input, caller);
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
