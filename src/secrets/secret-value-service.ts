import { randomBytesPooled } from '../crypto/random-pool.ts';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import type { KmsService } from '../kms/kms-service.ts';
import type { CacheInvalidation } from '../storage/cache-invalidation.ts';
import { type Storage, WriteRejected, type WriteStatement } from '../storage/storage-types.ts';
import { checkIdempotencyKey, IdempotencyKeys, requestDigest } from './idempotency-keys.ts';
import type { InstanceService } from './instance-service.ts';
import { checkStage, maxStages } from './secret-fns.ts';
import { stagesAfter, stagesOf, toBytes, type RevealedValue, type ValueInput } from './value-fns.ts';
import type { SecretMetadataCache } from './secret-metadata-cache.ts';
import type { SecretInput, SecretService } from './secret-service.ts';
import type { Caller, Instance, Secret, SecretsLocation, SecretVersion } from './secret-types.ts';
import { secretName } from './secret-types.ts';
import { secretChange } from './secret-changes.ts';

export type { Caller } from './secret-types.ts';
import type { SecretStageRepo } from './secret-stage-repo.ts';
import type { SealedVersion, SecretVersionRepo } from './secret-version-repo.ts';
import type { SecretsRepo } from './secrets-repo.ts';
import type { ValueCrypto, Wrapping } from './value-crypto.ts';
import { type SharedKeyChecks, ValueKeyUse } from './value-key-use.ts';
import { requireLive, ValueReveal } from './value-reveal.ts';

export type { RevealedValue, ValueInput } from './value-fns.ts';

/**
 * Secret values, versions and stages (SPEC §6): getSecretValue and putSecretValue with envelope
 * encryption under the bound key, check-and-set and idempotency keys, version states, staging
 * labels, and batch reads. KMS operations run as the instance's service account (or the service)
 * on behalf of the caller, and are audited as such.
 */
export class SecretValueService {
  readonly #storage: Storage;
  readonly #repo: SecretsRepo;
  readonly #versionRepo: SecretVersionRepo;
  readonly #stageRepo: SecretStageRepo;
  readonly #secrets: SecretService;
  readonly #instances: InstanceService;
  readonly #crypto: ValueCrypto;
  readonly #clock: Clock;
  readonly #idempotency: IdempotencyKeys;
  readonly #keyUse: ValueKeyUse;
  readonly #cache: SecretMetadataCache;
  readonly #invalidation: CacheInvalidation;
  readonly #revealer: ValueReveal;

  constructor(deps: {
    storage: Storage;
    repo: SecretsRepo;
    versionRepo: SecretVersionRepo;
    stageRepo: SecretStageRepo;
    secrets: SecretService;
    instances: InstanceService;
    kms: KmsService;
    crypto: ValueCrypto;
    clock: Clock;
    cache: SecretMetadataCache;
    invalidation: CacheInvalidation;
  }) {
    this.#storage = deps.storage;
    this.#invalidation = deps.invalidation;
    this.#cache = deps.cache;
    this.#repo = deps.repo;
    this.#versionRepo = deps.versionRepo;
    this.#stageRepo = deps.stageRepo;
    this.#secrets = deps.secrets;
    this.#instances = deps.instances;
    this.#crypto = deps.crypto;
    this.#clock = deps.clock;
    this.#idempotency = new IdempotencyKeys(deps.stageRepo, deps.crypto);
    this.#keyUse = new ValueKeyUse(deps.instances, deps.clock);
    this.#revealer = new ValueReveal({ ...deps, keyUse: this.#keyUse });
  }

  /**
   * Creates a secret, with its first version when a value is given; an idempotency key (AWS's
   * ClientRequestToken) is recorded for that version as a put with the default stages records it.
   */
  async create(
    location: SecretsLocation,
    instanceId: string,
    input: SecretInput & ValueInput & { idempotencyKey?: string },
    caller: Caller,
  ): Promise<Secret> {
    const instance = await this.#instances.get(location, instanceId);
    const hasValue = input.value !== undefined || input.binaryValue !== undefined;
    const value = hasValue ? toBytes(input) : undefined;
    const { secret, key } = await this.#secrets.prepare(instance, input, caller.principal);
    if (!value) {
      await this.#secrets.insert(secret, []);
      return secret;
    }
    // The first version uses the key every later one would: the binding, else the instance key.
    const bound = key ?? (await this.#secrets.keyOf(instance, secret));
    const wrapping = await this.#keyUse.wrapping(instance, secret, bound, caller, 'kms.encrypt');
    const { statements, etag } = await this.#versionStatements(
      secret,
      1,
      value,
      wrapping,
      ['current'],
      caller,
    );
    if (input.idempotencyKey !== undefined) {
      checkIdempotencyKey(input.idempotencyKey);
      const digest = requestDigest({ ...value, stages: ['current'], expectedLatestVersion: undefined });
      statements.push(
        this.#idempotency.record(secret.uid, input.idempotencyKey, 1, digest, secret.createTimeMs),
      );
    }
    await this.#secrets.insert({ ...secret, nextVersion: 2, etag }, statements);
    return { ...secret, nextVersion: 2, etag };
  }

  /** getSecretValue: `latest` (newest enabled), a number, and/or a stage that must agree. */
  async getValue(
    location: SecretsLocation,
    instanceId: string,
    path: string,
    version: string | undefined,
    stage: string | undefined,
    caller: Caller,
  ): Promise<RevealedValue> {
    const { instance, secret } = await this.#secrets.get(location, instanceId, path);
    return this.#revealer.reveal(instance, secret, version, stage, caller);
  }

  /**
   * putSecretValue: a new version under the bound key; contiguous numbers, check-and-set, idempotency;
   * `extra` statements commit in its unit (a rotation's state with its pending version).
   */
  async putValue(
    location: SecretsLocation,
    instanceId: string,
    path: string,
    input: ValueInput & { stages?: string[]; expectedLatestVersion?: number },
    idempotencyKey: string | undefined,
    caller: Caller,
    extra: readonly WriteStatement[] = [],
  ): Promise<{ version: number }> {
    const value = toBytes(input);
    const stages = input.stages ?? ['current'];
    for (const stage of stages) checkStage(stage);
    if (new Set(stages).size !== stages.length) throw errors.invalid('stages lists a stage twice.');
    // The request's digest matters only to an idempotency key: no key, no hash.
    let digest: Buffer | undefined;
    if (idempotencyKey !== undefined) {
      checkIdempotencyKey(idempotencyKey);
      digest = requestDigest({ ...value, stages, expectedLatestVersion: input.expectedLatestVersion });
    }
    for (let attempt = 0; ; attempt++) {
      // Before anything of the secret is read: the commit may then put its result in the cache.
      const generation = this.#cache.startWrite();
      // The first attempt reads the metadata cache; a retry (or a stale expectation) reads storage.
      const { instance, secret } = await this.#secrets.get(location, instanceId, path, attempt > 0);
      requireLive(secret);
      if (idempotencyKey !== undefined && digest !== undefined) {
        const earlier = await this.#idempotency.replay(secret.uid, idempotencyKey, digest);
        if (earlier !== undefined) return { version: earlier };
      }
      const latest = secret.nextVersion - 1;
      if (input.expectedLatestVersion !== undefined && input.expectedLatestVersion !== latest) {
        if (attempt === 0) continue;
        throw errors.conflict(`The latest version is ${latest}, not ${input.expectedLatestVersion}.`);
      }
      const current = await this.#cache.stages(secret, () => this.#stageRepo.stages(secret.uid), attempt > 0);
      const newStages = new Set([...current.keys(), ...stages]);
      if (stages.includes('current') && current.has('current')) newStages.add('previous');
      if (newStages.size > maxStages) throw errors.invalid(`A secret has at most ${maxStages} stages.`);
      const key = await this.#secrets.keyOf(instance, secret);
      const wrapping = await this.#keyUse.wrapping(instance, secret, key, caller, 'kms.encrypt');
      const number = secret.nextVersion;
      const { statements, etag, added } = await this.#versionStatements(
        secret,
        number,
        value,
        wrapping,
        stages,
        caller,
        current,
      );
      const now = this.#clock.nowMs();
      const claim = this.#repo.claimVersion(secret.uid, number, etag, now);
      if (idempotencyKey !== undefined && digest !== undefined)
        statements.push(this.#idempotency.record(secret.uid, idempotencyKey, number, digest, now));
      try {
        await this.#storage.write([
          claim,
          ...statements,
          ...extra,
          secretChange(this.#storage.db, 'version.added', secret, now, { version: number }),
        ]);
        // The secret as the commit left it, in place of the entry the commit's change dropped.
        if (extra.length === 0)
          this.#cache.committedPut(
            instance,
            secret,
            { ...secret, nextVersion: number + 1, etag, updateTimeMs: now },
            stagesAfter(current, stages, number),
            added,
            generation,
          );
        return { version: number };
      } catch (err) {
        if (!(err instanceof WriteRejected)) throw err;
        caller.events.length = 0;
        // Someone else added a version (or used the same idempotency key) first.
        if (input.expectedLatestVersion !== undefined)
          throw errors.conflict('Another version was added concurrently.');
        if (attempt >= 20) throw errors.conflict('Too many concurrent writers on this secret; retry.');
      }
    }
  }

  /** Version metadata with stages. */
  async listVersions(
    location: SecretsLocation,
    instanceId: string,
    path: string,
  ): Promise<Array<SecretVersion & { stages: string[] }>> {
    const { secret } = await this.#secrets.get(location, instanceId, path);
    const versions = await this.#versionRepo.listVersions(secret.uid, undefined, 10_000);
    const stages = await this.#stageRepo.stages(secret.uid);
    return versions.map((v) => ({ ...v, stages: stagesOf(stages, v.version) }));
  }

  /** One version's metadata. */
  async getVersion(location: SecretsLocation, instanceId: string, path: string, version: number) {
    const { secret } = await this.#secrets.get(location, instanceId, path);
    const found = await this.#versionRepo.findSealedVersion(secret.uid, version);
    if (!found) throw errors.notFound(`Version ${version}`);
    const { ciphertext: _c, wrappedKey: _w, ...meta } = found;
    return { ...meta, stages: stagesOf(await this.#stageRepo.stages(secret.uid), version) };
  }

  /** Enables, disables or destroys (crypto-shreds) a version. */
  async setVersionState(
    location: SecretsLocation,
    instanceId: string,
    path: string,
    version: number,
    action: 'enable' | 'disable' | 'destroy',
  ) {
    const { secret } = await this.#secrets.get(location, instanceId, path, true);
    const found = await this.#versionRepo.findSealedVersion(secret.uid, version);
    if (!found) throw errors.notFound(`Version ${version}`);
    const target = action === 'enable' ? 'enabled' : action === 'disable' ? 'disabled' : 'destroyed';
    if (found.state === target) {
      this.#invalidation.invalidate([secretName(secret)]); // Already in effect, maybe by a late commit.
      return this.getVersion(location, instanceId, path, version);
    }
    if (found.state === 'destroyed')
      throw new CofferError('failed_precondition', 'A destroyed version cannot change state.');
    try {
      const now = this.#clock.nowMs();
      await this.#storage.write([
        this.#versionRepo.setVersionState(secret.uid, version, found.state, target, now),
        secretChange(this.#storage.db, `version.${target}`, secret, now, { version }),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected) throw errors.conflict('The version changed concurrently; retry.');
      throw err;
    }
    return this.getVersion(location, instanceId, path, version);
  }

  /** Stage → version of a secret. */
  async stages(location: SecretsLocation, instanceId: string, path: string): Promise<Map<string, number>> {
    const { secret } = await this.#secrets.get(location, instanceId, path);
    return this.#stageRepo.stages(secret.uid);
  }

  /** Moves a stage onto a version (atomically off any other). */
  async moveStage(
    location: SecretsLocation,
    instanceId: string,
    path: string,
    stage: string,
    version: number,
  ): Promise<void> {
    checkStage(stage);
    const { secret } = await this.#secrets.get(location, instanceId, path, true);
    const found = await this.#versionRepo.findSealedVersion(secret.uid, version);
    if (!found) throw errors.notFound(`Version ${version}`);
    if (found.state === 'destroyed')
      throw new CofferError('failed_precondition', 'A stage cannot point at a destroyed version.');
    const stages = await this.#stageRepo.stages(secret.uid);
    if (!stages.has(stage) && stages.size >= maxStages)
      throw errors.invalid(`A secret has at most ${maxStages} stages.`);
    await this.#storage.write([
      this.#stageRepo.moveStage(secret.uid, stage, version),
      secretChange(this.#storage.db, 'stage.moved', secret, this.#clock.nowMs(), { version, stage }),
    ]);
  }

  /**
   * The latest value (or the value `stage` is on) of one secret of a batch (BatchReveal makes the
   * `secrets.get_value` events); `shared` carries the key checks the batch's secrets have in common.
   */
  async reveal(
    instance: Instance,
    secret: Secret,
    caller: Caller,
    shared?: SharedKeyChecks,
    stage?: string,
  ): Promise<RevealedValue> {
    return this.#revealer.reveal(instance, secret, undefined, stage, caller, shared);
  }

  /** A version's value, even disabled (a rotation's pending version, disabled until it finishes). */
  async revealVersion(secret: Secret, version: number, caller: Caller): Promise<RevealedValue> {
    const instance = await this.#instances.get(secret, secret.instanceId);
    return this.#revealer.reveal(instance, secret, String(version), undefined, caller, undefined, true);
  }

  async #versionStatements(
    secret: Secret,
    number: number,
    value: { bytes: Buffer; binary: boolean },
    wrapping: Wrapping,
    stages: readonly string[],
    caller: Caller,
    current: Map<string, number> = new Map(),
  ): Promise<{ statements: WriteStatement[]; etag: string; added: SealedVersion }> {
    const sealed = await this.#crypto.seal(secret.uid, number, value.bytes, wrapping);
    this.#keyUse.succeeded(caller, wrapping.key, sealed.kmsKeyVersion);
    const added: SealedVersion = {
      secretUid: secret.uid,
      version: number,
      state: 'enabled',
      binary: value.binary,
      wrapKeyUid: wrapping.key?.uid ?? null,
      followsInstance: secret.kmsKeyUid === null,
      createdBy: caller.principal,
      createTimeMs: this.#clock.nowMs(),
      destroyTimeMs: null,
      ciphertext: sealed.ciphertext,
      wrappedKey: sealed.wrappedKey,
    };
    const statements: WriteStatement[] = [
      this.#versionRepo.insertVersion(added, sealed.ciphertext, sealed.wrappedKey),
    ];
    const previous = current.get('current');
    const moves: Array<readonly [string, number]> = [];
    if (stages.includes('current') && previous !== undefined) moves.push(['previous', previous]);
    for (const stage of stages) moves.push([stage, number]);
    // The usual put (previous and current move): one statement for both.
    if (moves.length === 2 && moves[0]![0] !== moves[1]![0])
      statements.push(this.#stageRepo.moveTwoStages(secret.uid, moves[0]!, moves[1]!));
    else for (const [stage, at] of moves) statements.push(this.#stageRepo.moveStage(secret.uid, stage, at));
    return { statements, etag: randomBytesPooled(9).toString('base64url'), added };
  }
}
