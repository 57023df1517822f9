import type { Clock } from '../core/clock.ts';
import { AdminSecrets } from '../databases/admin-secret.ts';
import { ConnectionPools } from '../databases/connection-pools.ts';
import { CredentialIssuer } from '../databases/credential-issuer.ts';
import { DatabaseRepo } from '../databases/database-repo.ts';
import { DatabaseService } from '../databases/database-service.ts';
import { LeaseRepo } from '../databases/lease-repo.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { IamRepo } from '../iam/iam-repo.ts';
import type { InstanceService } from '../secrets/instance-service.ts';
import type { SecretService } from '../secrets/secret-service.ts';
import type { SecretValueService } from '../secrets/secret-value-service.ts';
import type { Storage } from '../storage/storage-types.ts';

/** The services of dynamic database credentials, built together (they share repos and pools). */
export interface DatabaseServices {
  readonly repo: DatabaseRepo;
  readonly leaseRepo: LeaseRepo;
  readonly adminSecrets: AdminSecrets;
  readonly pools: ConnectionPools;
  readonly databases: DatabaseService;
  readonly credentials: CredentialIssuer;
}

/** Wires the dynamic-credential services; `storage` is the audited, change-kicking one. */
export function createDatabaseServices(deps: {
  storage: Storage;
  instances: InstanceService;
  secrets: SecretService;
  secretValues: SecretValueService;
  authorizer: Authorizer;
  iamRepo: IamRepo;
  clock: Clock;
}): DatabaseServices {
  const repo = new DatabaseRepo(deps.storage.db);
  const leaseRepo = new LeaseRepo(deps.storage.db);
  const adminSecrets = new AdminSecrets({
    authorizer: deps.authorizer,
    secrets: deps.secrets,
    values: deps.secretValues,
    clock: deps.clock,
  });
  const pools = new ConnectionPools();
  const databases = new DatabaseService({
    storage: deps.storage,
    repo,
    leases: leaseRepo,
    instances: deps.instances,
    iamRepo: deps.iamRepo,
    admin: adminSecrets,
    pools,
    clock: deps.clock,
  });
  const credentials = new CredentialIssuer({
    storage: deps.storage,
    databases,
    leases: leaseRepo,
    repo,
    admin: adminSecrets,
    pools,
    clock: deps.clock,
  });
  return { repo, leaseRepo, adminSecrets, pools, databases, credentials };
}
