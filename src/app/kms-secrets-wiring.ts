import type { AuditLog } from '../audit/audit-log.ts';
import type { Barrier } from '../barrier/barrier.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config-schema.ts';
import type { Logger } from '../core/logger.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { IamRepo } from '../iam/iam-repo.ts';
import { KeyMaterialStore } from '../kms/key-material-store.ts';
import { KmsAliasService } from '../kms/kms-alias-service.ts';
import { KmsCryptoService } from '../kms/kms-crypto-service.ts';
import { KmsExtrasRepo } from '../kms/kms-extras-repo.ts';
import { KmsGrantRepo } from '../kms/kms-grant-repo.ts';
import { KmsGrantService } from '../kms/kms-grant-service.ts';
import { KmsKeyExtrasService } from '../kms/kms-key-extras-service.ts';
import { KmsMetadataCache } from '../kms/kms-metadata-cache.ts';
import { KmsRepo } from '../kms/kms-repo.ts';
import { KmsService } from '../kms/kms-service.ts';
import type { ProjectService } from '../projects/project-service.ts';
import { DataKeyCache } from '../secrets/data-key-cache.ts';
import { InstanceRepo } from '../secrets/instance-repo.ts';
import { InstanceService } from '../secrets/instance-service.ts';
import { KeyDependents } from '../secrets/key-dependents.ts';
import { SecretAttributeService } from '../secrets/secret-attribute-service.ts';
import { SecretMetadataCache } from '../secrets/secret-metadata-cache.ts';
import { SecretService } from '../secrets/secret-service.ts';
import { SecretStageRepo } from '../secrets/secret-stage-repo.ts';
import { SecretValueService } from '../secrets/secret-value-service.ts';
import { SecretVersionRepo } from '../secrets/secret-version-repo.ts';
import { SecretsRepo } from '../secrets/secrets-repo.ts';
import { ValueCrypto } from '../secrets/value-crypto.ts';
import type { CacheInvalidation } from '../storage/cache-invalidation.ts';
import type { Storage } from '../storage/storage-types.ts';

/** The KMS and Secrets Manager services of a node, and the caches and repos others wire to. */
export interface KmsSecretsServices {
  readonly kms: KmsService;
  readonly kmsCrypto: KmsCryptoService;
  readonly kmsKeyExtras: KmsKeyExtrasService;
  readonly kmsAliases: KmsAliasService;
  readonly kmsGrants: KmsGrantService;
  readonly kmsCache: KmsMetadataCache;
  readonly dataKeys: DataKeyCache;
  readonly secretMetadata: SecretMetadataCache;
  readonly secretsRepo: SecretsRepo;
  readonly secretStageRepo: SecretStageRepo;
  readonly instances: InstanceService;
  readonly secrets: SecretService;
  readonly secretValues: SecretValueService;
  readonly secretAttributes: SecretAttributeService;
  readonly keyDependents: KeyDependents;
}

/**
 * Wires key rings, keys and their crypto, then instances, secrets and values on them, and what
 * links the two (a key's dependents are secrets and instances). The caches subscribe to
 * `invalidation` in this order: KMS metadata, data keys, secret metadata.
 */
export function createKmsSecretsServices(deps: {
  /** The audited, change-kicking storage. */
  storage: Storage;
  /** The database of the node's own storage (repos read through it). */
  db: Storage['db'];
  barrier: Barrier;
  invalidation: CacheInvalidation;
  config: Pick<Config, 'metadataCache' | 'dataKeyCache'>;
  projects: ProjectService;
  authorizer: Authorizer;
  iamRepo: IamRepo;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
}): KmsSecretsServices {
  const { storage: changes, db, barrier, config, projects, authorizer, iamRepo, audit, clock } = deps;
  const kmsRepo = new KmsRepo(db);
  const materials = new KeyMaterialStore(barrier, kmsRepo);
  const kmsCache = new KmsMetadataCache(deps.invalidation, config.metadataCache);
  const kms = new KmsService(changes, kmsRepo, materials, projects, clock, kmsCache);
  const kmsCrypto = new KmsCryptoService(kms, kmsRepo, materials, kmsCache);
  const kmsExtrasRepo = new KmsExtrasRepo(db);
  const kmsKeyExtras = new KmsKeyExtrasService(changes, kmsExtrasRepo, kms, kmsRepo, kmsCache, clock);
  const kmsAliases = new KmsAliasService(changes, kmsExtrasRepo, kms, kmsKeyExtras, clock);
  const kmsGrants = new KmsGrantService(changes, new KmsGrantRepo(db), clock);
  const instanceRepo = new InstanceRepo(db);
  const secretsRepo = new SecretsRepo(db);
  const secretVersionRepo = new SecretVersionRepo(db);
  const secretStageRepo = new SecretStageRepo(db);
  const dataKeys = new DataKeyCache(deps.invalidation, {
    maxEntries: config.dataKeyCache.maxEntries,
    ttlMs: config.dataKeyCache.ttlSeconds * 1000,
  });
  const valueCrypto = new ValueCrypto(barrier, kmsCrypto, dataKeys);
  const secretMetadata = new SecretMetadataCache(deps.invalidation, config.metadataCache);
  const instances = new InstanceService({
    storage: changes,
    repo: instanceRepo,
    versionRepo: secretVersionRepo,
    kms,
    projects,
    authorizer,
    iamRepo,
    crypto: valueCrypto,
    audit,
    clock,
    logger: deps.logger,
    cache: secretMetadata,
  });
  const secrets = new SecretService({
    storage: changes,
    repo: secretsRepo,
    instanceRepo,
    instances,
    kms,
    authorizer,
    iamRepo,
    clock,
    cache: secretMetadata,
  });
  const secretValues = new SecretValueService({
    storage: changes,
    invalidation: deps.invalidation,
    repo: secretsRepo,
    versionRepo: secretVersionRepo,
    stageRepo: secretStageRepo,
    secrets,
    instances,
    kms,
    crypto: valueCrypto,
    clock,
    cache: secretMetadata,
  });
  const secretAttributes = new SecretAttributeService({
    storage: changes,
    repo: secretsRepo,
    stageRepo: secretStageRepo,
    versionRepo: secretVersionRepo,
    secrets,
    crypto: valueCrypto,
    clock,
  });
  kms.setDependentsCounter(async (key) => {
    const found = await secrets.dependents(key);
    return found.secrets.length + found.instances.length;
  });
  const keyDependents = new KeyDependents(db);
  kms.setVersionDependentsFinder((key, version, canSee) => keyDependents.ofKeyVersion(key, version, canSee));
  return {
    kms,
    kmsCrypto,
    kmsKeyExtras,
    kmsAliases,
    kmsGrants,
    kmsCache,
    dataKeys,
    secretMetadata,
    secretsRepo,
    secretStageRepo,
    instances,
    secrets,
    secretValues,
    secretAttributes,
    keyDependents,
  };
}
