import { CofferError, errors } from '../core/errors.ts';
import { algorithmInfo } from '../crypto/kms-algorithms.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { IamRepo } from '../iam/iam-repo.ts';
import type { Principal } from '../iam/principal.ts';
import type { KmsService } from '../kms/kms-service.ts';
import { type CryptoKey, keyResourceName } from '../kms/kms-types.ts';
import type { SecretMetadataCache } from './secret-metadata-cache.ts';
import {
  type Instance,
  type InstanceKmsKey,
  instanceName,
  type SecretsLocation,
  serviceIdentity,
} from './secret-types.ts';

/**
 * Who may use an instance's KMS key: the checks of a kmsKey being set, and the identity that KMS
 * operations of an instance run as (its service account, re-checked on every use).
 */
export class InstanceKeyAccess {
  readonly #kms: KmsService;
  readonly #authorizer: Authorizer;
  readonly #iamRepo: IamRepo;
  readonly #cache: SecretMetadataCache;

  constructor(deps: {
    kms: KmsService;
    authorizer: Authorizer;
    iamRepo: IamRepo;
    cache: SecretMetadataCache;
  }) {
    this.#kms = deps.kms;
    this.#authorizer = deps.authorizer;
    this.#iamRepo = deps.iamRepo;
    this.#cache = deps.cache;
  }

  /**
   * The identity KMS operations of this instance run as, re-checked now: the instance's service
   * account must still exist, be enabled, hold its role on the instance and may use `key`.
   */
  async actingIdentity(instance: Instance, key: CryptoKey): Promise<string> {
    const email = instance.kmsKey?.serviceAccountEmail;
    if (!email) return serviceIdentity;
    // Cached: disabling or enabling it records a change that names it (dropped here at once).
    const account = await this.#cache.serviceAccount(email, () => this.#iamRepo.findServiceAccount(email));
    const principal = `serviceAccount:${email}` as Principal;
    const resource = instanceName({ ...instance, instanceId: instance.id });
    const ok =
      account !== undefined &&
      !account.disabled &&
      (await this.#authorizer.hasRole(
        principal,
        ['roles/secretsmanager.reader', 'roles/secretsmanager.admin'],
        resource,
      )) &&
      (await this.#authorizer.holds(principal, 'kms.encrypt', keyResourceName(key))) &&
      (await this.#authorizer.holds(principal, 'kms.decrypt', keyResourceName(key)));
    if (!ok) {
      throw new CofferError(
        'permission_denied',
        `The instance's service account ${email} may no longer use its KMS key.`,
      );
    }
    return principal;
  }

  /** Checks a kmsKey an instance is given (SPEC §6): region, act_as, key visibility, algorithm, state, version, service account. */
  async validate(
    target: SecretsLocation & { instanceId: string },
    kmsKey: InstanceKmsKey,
    caller: Principal,
    changed: boolean,
  ): Promise<CryptoKey> {
    if (kmsKey.regionId !== target.regionId) {
      throw new CofferError(
        'region_mismatch',
        `kmsKey.regionId ${kmsKey.regionId} is not the instance's region ${target.regionId}.`,
      );
    }
    const account = `projects/${(await this.#iamRepo.findServiceAccount(kmsKey.serviceAccountEmail))?.projectId ?? '-'}/service-accounts/${kmsKey.serviceAccountEmail}`;
    if (!(await this.#authorizer.holds(caller, 'iam.service_accounts.act_as', account))) {
      throw new CofferError(
        'permission_denied',
        `The caller may not act as ${kmsKey.serviceAccountEmail} (iam.service_accounts.act_as).`,
      );
    }
    // The instance acts as the account for good: a time-bound act_as would outlive its grant.
    const actAs = ['iam.service_accounts.act_as' as const];
    if (
      changed &&
      (await this.#authorizer.held(caller, actAs, account, { unconditionalOnly: true })).length === 0
    )
      throw new CofferError(
        'permission_denied',
        `Setting a kmsKey that acts as ${kmsKey.serviceAccountEmail} needs iam.service_accounts.act_as held unconditionally (the instance keeps acting after a time-bound grant ends).`,
      );
    // Say nothing about a key (existence, project, algorithm, versions) to a caller who may not see
    // it: visible means the caller may read it, or the service account it acts as may use it.
    const saPrincipal = `serviceAccount:${kmsKey.serviceAccountEmail}` as Principal;
    const visible = async (k: CryptoKey) =>
      (await this.#authorizer.holds(caller, 'kms.keys.get', keyResourceName(k))) ||
      (await this.#authorizer.holds(saPrincipal, 'kms.encrypt', keyResourceName(k)));
    const candidates = (await this.#kms.findKeysAnywhere(kmsKey.keyRingId, kmsKey.keyId)).filter(
      (k) => k.regionId === kmsKey.regionId,
    );
    const exact = candidates.find((k) => k.projectId === kmsKey.projectId);
    const key = exact && (await visible(exact)) ? exact : undefined;
    if (!key) {
      for (const elsewhere of candidates) {
        if (elsewhere !== exact && (await visible(elsewhere))) {
          throw new CofferError('project_mismatch', `The key does not live in project ${kmsKey.projectId}.`);
        }
      }
      if (
        await this.#authorizer.holds(
          caller,
          'kms.keys.get',
          `projects/${kmsKey.projectId}/regions/${kmsKey.regionId}`,
        )
      ) {
        throw errors.invalid('kmsKey names no key (check keyRingId and keyId).');
      }
      throw new CofferError('permission_denied', 'The caller may not use the key that kmsKey names.');
    }
    if (algorithmInfo[key.algorithm].family !== 'symmetric') {
      throw errors.invalid(`A ${key.algorithm} key cannot protect secrets; use a symmetric encryption key.`);
    }
    if (key.state !== 'active') throw new CofferError('key_not_active', `The key is ${key.state}.`);
    const version = await this.#kms.findVersionByUid(key.uid, kmsKey.keyVersion);
    if (!version) throw errors.invalid(`Key version ${kmsKey.keyVersion} does not exist.`);
    if (version.state !== 'enabled')
      throw new CofferError('key_not_active', `Key version ${kmsKey.keyVersion} is ${version.state}.`);
    await this.actingIdentity(
      {
        projectId: target.projectId,
        regionId: target.regionId,
        id: target.instanceId,
        name: '',
        kmsKey,
        kmsKeyUid: key.uid,
        etag: '',
        createTimeMs: 0,
        updateTimeMs: 0,
      },
      key,
    ).catch(() => {
      throw new CofferError(
        'permission_denied',
        `Service account ${kmsKey.serviceAccountEmail} must exist, hold roles/secretsmanager.reader or admin on the instance, and may use the key.`,
      );
    });
    return key;
  }
}
