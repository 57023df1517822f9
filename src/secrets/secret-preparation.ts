import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { newUuid } from '../core/ids.ts';
import { algorithmInfo } from '../crypto/kms-algorithms.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { Principal } from '../iam/principal.ts';
import type { KmsService } from '../kms/kms-service.ts';
import { type CryptoKey, keyResourceName } from '../kms/kms-types.ts';
import { checkLabels, checkSecretPath, type RotationInput, rotationFields } from './secret-fns.ts';
import type { Instance, Secret, SecretTag } from './secret-types.ts';
import { checkDescription, checkTags, maxTags, newArnSuffix } from './secret-attribute-fns.ts';

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

/**
 * A new secret before it is stored: its input checked, its key binding resolved (the caller's
 * `kms.encrypt` on a named key; a service-chosen key checked without it), its row built. Used by
 * SecretService (`prepare`, `resolveBinding`).
 */
export class SecretPreparation {
  readonly #kms: KmsService;
  readonly #authorizer: Authorizer;
  readonly #clock: Clock;

  constructor(deps: { kms: KmsService; authorizer: Authorizer; clock: Clock }) {
    this.#kms = deps.kms;
    this.#authorizer = deps.authorizer;
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
}
