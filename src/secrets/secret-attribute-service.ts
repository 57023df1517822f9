import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { type Storage, WriteRejected, type WriteStatement } from '../storage/storage-types.ts';
import { IdempotencyKeys, requestDigest } from './idempotency-keys.ts';
import { checkResourcePolicy } from './resource-policy-fns.ts';
import {
  checkDescription,
  derivedVersionId,
  isVersionToken,
  mergeTags,
  removeTags,
  versionOfDerivedId,
} from './secret-attribute-fns.ts';
import { secretChange } from './secret-changes.ts';
import { checkStage, maxStages } from './secret-fns.ts';
import type { SecretService } from './secret-service.ts';
import type { SecretStageRepo } from './secret-stage-repo.ts';
import type { Secret, SecretTag, SecretsLocation, SecretVersion } from './secret-types.ts';
import type { SecretVersionRepo } from './secret-version-repo.ts';
import type { SecretsRepo } from './secrets-repo.ts';
import type { ValueCrypto } from './value-crypto.ts';
import { toBytes, type ValueInput } from './value-fns.ts';

/** Most version ids kept in memory per node. */
const maxCachedIds = 100_000;

/** A change of a secret's attributes; absent fields stay. */
export interface AttributeChange {
  readonly description?: string;
  readonly addTags?: readonly SecretTag[];
  readonly removeTagKeys?: readonly string[];
  /** A JSON IAM policy document (checked), or null to delete it. */
  readonly resourcePolicy?: string | null;
}

/**
 * A secret's attributes beyond the native metadata, for both faces (issue 18): description, tags,
 * resource policy (stored and validated, not evaluated), version ids (AWS's `VersionId`: the client
 * token a version was made with, else one derived from the version number), idempotent replays of
 * a token, and staging-label moves with AWS's rules (moving `current` moves `previous` along).
 */
export class SecretAttributeService {
  readonly #storage: Storage;
  readonly #repo: SecretsRepo;
  readonly #stageRepo: SecretStageRepo;
  readonly #versionRepo: SecretVersionRepo;
  readonly #secrets: SecretService;
  readonly #idempotency: IdempotencyKeys;
  readonly #clock: Clock;
  /** `${secretUid}:${version}` → version id (immutable; oldest dropped first). */
  readonly #ids = new Map<string, string>();

  constructor(deps: {
    storage: Storage;
    repo: SecretsRepo;
    stageRepo: SecretStageRepo;
    versionRepo: SecretVersionRepo;
    secrets: SecretService;
    crypto: ValueCrypto;
    clock: Clock;
  }) {
    this.#storage = deps.storage;
    this.#repo = deps.repo;
    this.#stageRepo = deps.stageRepo;
    this.#versionRepo = deps.versionRepo;
    this.#secrets = deps.secrets;
    this.#idempotency = new IdempotencyKeys(deps.stageRepo, deps.crypto);
    this.#clock = deps.clock;
  }

  /** Applies `change` to the secret's attributes (read fresh, written etag-checked, retried on a race). */
  async change(
    location: SecretsLocation,
    instanceId: string,
    path: string,
    change: AttributeChange,
  ): Promise<Secret> {
    if (change.description !== undefined) checkDescription(change.description);
    if (typeof change.resourcePolicy === 'string') {
      const findings = checkResourcePolicy(change.resourcePolicy);
      if (findings.length > 0)
        throw errors.invalid(`The resource policy is not valid: ${findings[0]!.message}`);
    }
    for (let attempt = 0; ; attempt++) {
      const { secret } = await this.#secrets.get(location, instanceId, path, true);
      // A secret never tagged keeps no tag list (AWS then leaves Tags out); once tagged, it keeps
      // one, empty after its last tag is removed (AWS then answers Tags: []).
      let tags = secret.tags;
      if (change.removeTagKeys) tags = removeTags(tags ?? [], change.removeTagKeys);
      if (change.addTags) tags = mergeTags(tags ?? [], change.addTags);
      const now = this.#clock.nowMs();
      const next: Secret = {
        ...secret,
        description: change.description ?? secret.description ?? null,
        ...(tags !== undefined ? { tags } : {}),
        resourcePolicy:
          change.resourcePolicy === undefined ? (secret.resourcePolicy ?? null) : change.resourcePolicy,
        etag: randomBytes(9).toString('base64url'),
        updateTimeMs: now,
      };
      try {
        await this.#storage.write([
          this.#repo.updateSecret(next, secret.etag),
          secretChange(this.#storage.db, 'secret.updated', next, now),
        ]);
        return next;
      } catch (err) {
        if (!(err instanceof WriteRejected) || attempt >= 5) {
          if (err instanceof WriteRejected)
            throw errors.conflict('The secret was changed concurrently; retry.');
          throw err;
        }
      }
    }
  }

  /** Every version of the secret (metadata, oldest first). */
  versions(secret: Secret): Promise<SecretVersion[]> {
    return this.#versionRepo.listVersions(secret.uid, undefined, 10_000);
  }

  /**
   * Version number → version id for the secret's versions `numbers`. A version's id never changes
   * (its token is written with the version, and a uid is never reused), so ids are cached per node
   * without invalidation: a read of a value costs no extra query.
   */
  async versionIds(secret: Secret, numbers: readonly number[]): Promise<Map<number, string>> {
    const ids = new Map<number, string>();
    for (const n of numbers) {
      const cached = this.#ids.get(`${secret.uid}:${n}`);
      if (cached === undefined) break;
      ids.set(n, cached);
    }
    if (ids.size === numbers.length) return ids;
    for (const n of numbers) ids.set(n, derivedVersionId(secret.uid, n));
    for (const { key, version } of await this.#stageRepo.versionKeys(secret.uid))
      if (ids.has(version) && isVersionToken(key)) ids.set(version, key);
    for (const [n, id] of ids) {
      if (this.#ids.size >= maxCachedIds) this.#ids.delete(this.#ids.keys().next().value!);
      this.#ids.set(`${secret.uid}:${n}`, id);
    }
    return ids;
  }

  /** The version number a version id names on this secret, or undefined. */
  async versionOf(secret: Secret, versionId: string): Promise<number | undefined> {
    if (isVersionToken(versionId)) {
      const made = await this.#stageRepo.idempotentVersion(secret.uid, versionId);
      if (made) return made.version;
    }
    const derived = versionOfDerivedId(secret.uid, versionId);
    return derived !== undefined && derived < secret.nextVersion ? derived : undefined;
  }

  /**
   * The version `token` made for this same value and stages, or undefined when the token is new;
   * IdempotencyKeyReused when it made a version of a different value.
   */
  replay(
    secret: Secret,
    token: string,
    value: ValueInput,
    stages: readonly string[],
  ): Promise<number | undefined> {
    const digest = requestDigest({ ...toBytes(value), stages, expectedLatestVersion: undefined });
    return this.#idempotency.replay(secret.uid, token, digest);
  }

  /**
   * Moves or removes a staging label (AWS's UpdateSecretVersionStage): `moveTo` puts it on a
   * version (naming `removeFrom` when it is on another one); `current` moved takes `previous` to
   * the version it left; `current` can only move, never just be removed.
   */
  async relabel(
    location: SecretsLocation,
    instanceId: string,
    path: string,
    stage: string,
    moveTo: number | undefined,
    removeFrom: number | undefined,
  ): Promise<void> {
    checkStage(stage);
    const { secret } = await this.#secrets.get(location, instanceId, path, true);
    const stages = await this.#stageRepo.stages(secret.uid);
    const attached = stages.get(stage);
    if (removeFrom !== undefined && attached !== removeFrom)
      throw errors.invalid(`The staging label ${stage} is not on the version named to remove it from.`);
    const now = this.#clock.nowMs();
    const statements: WriteStatement[] = [];
    if (moveTo === undefined) {
      if (removeFrom === undefined)
        throw errors.invalid('Name a version to move the label to or remove it from.');
      if (stage === 'current')
        throw errors.invalid('The current label cannot be removed, only moved onto another version.');
      statements.push(this.#stageRepo.removeStage(secret.uid, stage, removeFrom));
    } else {
      const found = await this.#versionRepo.findSealedVersion(secret.uid, moveTo);
      if (!found) throw errors.notFound('The version to move the label to');
      if (found.state === 'destroyed')
        throw new CofferError('failed_precondition', 'A stage cannot point at a destroyed version.');
      if (attached !== undefined && attached !== moveTo && removeFrom === undefined)
        throw errors.invalid(
          `The staging label ${stage} is on another version; name that version as the one to remove it from.`,
        );
      if (attached === undefined && stages.size >= maxStages)
        throw errors.invalid(`A secret has at most ${maxStages} stages.`);
      statements.push(this.#stageRepo.moveStage(secret.uid, stage, moveTo));
      if (stage === 'current' && attached !== undefined && attached !== moveTo)
        statements.push(this.#stageRepo.moveStage(secret.uid, 'previous', attached));
    }
    try {
      await this.#storage.write([
        ...statements,
        secretChange(this.#storage.db, 'stage.moved', secret, now, {
          stage,
          ...(moveTo !== undefined ? { version: moveTo } : {}),
        }),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected) throw errors.conflict('The label moved concurrently; retry.');
      throw err;
    }
  }
}
