import { CofferError, errors } from '../core/errors.ts';
import type { KmsService } from '../kms/kms-service.ts';
import type { SecretMetadataCache } from './secret-metadata-cache.ts';
import type { SecretService } from './secret-service.ts';
import type { SecretStageRepo } from './secret-stage-repo.ts';
import type { Caller, Instance, Secret } from './secret-types.ts';
import { secretName } from './secret-types.ts';
import type { SecretVersionRepo } from './secret-version-repo.ts';
import type { ValueCrypto } from './value-crypto.ts';
import { stagesOf, type RevealedValue } from './value-fns.ts';
import type { SharedKeyChecks, ValueKeyUse } from './value-key-use.ts';

/** Refuses a secret pending deletion (its values are neither read nor written until restored). */
export function requireLive(secret: Secret): void {
  if (secret.deleteTimeMs !== null)
    throw new CofferError('failed_precondition', 'The secret is pending deletion; restore it first.');
}

/**
 * Reading one version's value (getSecretValue, a batch's secrets, a rotation's pending version):
 * which version a number, `latest` and a stage select, the key gates and checks, the data key and
 * the opened value. Used by SecretValueService only.
 */
export class ValueReveal {
  readonly #cache: SecretMetadataCache;
  readonly #stageRepo: SecretStageRepo;
  readonly #versionRepo: SecretVersionRepo;
  readonly #secrets: SecretService;
  readonly #kms: KmsService;
  readonly #crypto: ValueCrypto;
  readonly #keyUse: ValueKeyUse;

  constructor(deps: {
    cache: SecretMetadataCache;
    stageRepo: SecretStageRepo;
    versionRepo: SecretVersionRepo;
    secrets: SecretService;
    kms: KmsService;
    crypto: ValueCrypto;
    keyUse: ValueKeyUse;
  }) {
    this.#cache = deps.cache;
    this.#stageRepo = deps.stageRepo;
    this.#versionRepo = deps.versionRepo;
    this.#secrets = deps.secrets;
    this.#kms = deps.kms;
    this.#crypto = deps.crypto;
    this.#keyUse = deps.keyUse;
  }

  /**
   * The value of `version` (a number or `latest`) and/or the version `stage` is on (they must
   * agree); by default the newest enabled version. `evenDisabled` reads a disabled version too.
   */
  async reveal(
    instance: Instance,
    secret: Secret,
    version: string | undefined,
    stage: string | undefined,
    caller: Caller,
    shared?: SharedKeyChecks,
    evenDisabled = false,
  ): Promise<RevealedValue> {
    requireLive(secret);
    const stages = await this.#cache.stages(secret, () => this.#stageRepo.stages(secret.uid));
    let number: number | undefined;
    const byNumber = version !== undefined && version !== 'latest';
    if (byNumber) {
      if (!/^[1-9]\d{0,9}$/.test(version))
        throw errors.invalid('version must be "latest" or a version number.');
      number = Number(version);
    }
    if (stage !== undefined) {
      const staged = stages.get(stage);
      if (staged === undefined) throw errors.notFound(`Stage ${stage}`);
      if (number !== undefined && number !== staged)
        throw errors.invalid(`Stage ${stage} is on version ${staged}, not ${number}.`);
      if (version === 'latest' && staged !== (await this.#latestEnabled(secret))) {
        throw errors.invalid(`Stage ${stage} is not on the latest version.`);
      }
      number = staged;
    }
    if (number === undefined) {
      number = await this.#latestEnabled(secret);
      if (number === undefined) throw errors.notFound(`An enabled version of ${secret.path}`);
    }
    const at = number;
    const found = await this.#cache.version(secret, at, instance.kmsKeyUid, () =>
      this.#versionRepo.findSealedVersion(secret.uid, at),
    );
    if (!found) throw errors.notFound(`Version ${number}`);
    const readable = found.state === 'enabled' || (evenDisabled && found.state === 'disabled');
    if (!readable || !found.ciphertext || !found.wrappedKey) {
      throw new CofferError('failed_precondition', `Version ${number} is ${found.state}.`);
    }
    const key = found.wrapKeyUid ? await this.#kms.findKeyByUid(found.wrapKeyUid) : undefined;
    // The bound key is usually the one that wrapped the version: one lookup for both.
    const current =
      key !== undefined && key.uid === (secret.kmsKeyUid || instance.kmsKeyUid)
        ? key
        : await this.#secrets.keyOf(instance, secret);
    await this.#keyUse.requireGate(instance, key ?? current, shared);
    if (current && current.uid !== key?.uid && current.state !== 'active') {
      throw new CofferError('key_not_active', `The bound key is ${current.state}.`);
    }
    // The gate of `key ?? current` was checked just above.
    await this.#keyUse.wrapping(instance, secret, key, caller, 'kms.decrypt', shared, true);
    const dataKey = await this.#crypto.dataKeyOf(
      secret.uid,
      secretName(secret),
      number,
      found.wrappedKey,
      key,
    );
    this.#keyUse.succeeded(caller, key, dataKey.kmsKeyVersion);
    const plaintext = this.#crypto.openWith(secret.uid, number, found.ciphertext, dataKey);
    return {
      ...(found.binary ? { binaryValue: plaintext } : { value: plaintext.toString('utf8') }),
      version: number,
      stages: stagesOf(stages, number),
      createTimeMs: found.createTimeMs,
    };
  }

  #latestEnabled(secret: Secret): Promise<number | undefined> {
    return this.#cache.latestEnabled(secret, () => this.#versionRepo.latestEnabled(secret.uid));
  }
}
