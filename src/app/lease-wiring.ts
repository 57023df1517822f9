import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Barrier } from '../barrier/barrier.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config-schema.ts';
import type { Logger } from '../core/logger.ts';
import { LeaseClaimRepo } from '../databases/lease-claim-repo.ts';
import { LeaseExpiryJob } from '../databases/lease-expiry-job.ts';
import { defaultBackoff, LeaseRevocation } from '../databases/lease-revocation.ts';
import { LeaseService } from '../databases/lease-service.ts';
import { LeaseTargets } from '../databases/lease-targets.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { Storage } from '../storage/storage-types.ts';
import type { DatabaseServices } from './database-wiring.ts';

/**
 * How long a node's claim on a lease holds: longer than the slowest revocation (a pool checkout
 * and connect of 5 s, six statements of at most 10 s each); a node that dies mid-revocation leaves
 * its leases to the others after this.
 */
const claimMs = 120_000;

/** The lease services of a node: the API's lease service and the expiry job. */
export interface LeaseServices {
  readonly leases: LeaseService;
  readonly expiry: LeaseExpiryJob;
}

/** Wires lease renewal, revocation and expiry on the dynamic-credential services. */
export function createLeaseServices(deps: {
  /** The audited, change-kicking storage. */
  storage: Storage;
  databases: DatabaseServices;
  authorizer: Authorizer;
  audit: AuditLog;
  barrier: Barrier;
  clock: Clock;
  logger: Logger;
  config: Config['databases'];
}): LeaseServices {
  const { storage, databases, clock, logger } = deps;
  const claims = new LeaseClaimRepo(storage.db);
  const targets = new LeaseTargets({
    repo: databases.repo,
    adminSecrets: databases.adminSecrets,
    pools: databases.pools,
  });
  const revocation = new LeaseRevocation({
    storage,
    claims,
    clock,
    logger,
    nodeId: `node-${randomUUID()}`,
    claimMs,
    backoff: defaultBackoff,
  });
  const expiry = new LeaseExpiryJob({
    claims,
    storage,
    revocation,
    targets,
    audit: deps.audit,
    clock,
    logger,
    concurrency: deps.config.revokeConcurrency,
    ratePerSecond: deps.config.revokeRatePerSecond,
    ready: () => !deps.barrier.sealed,
  });
  const leases = new LeaseService({
    storage,
    repo: databases.repo,
    leases: databases.leaseRepo,
    claims,
    revocation,
    targets,
    authorizer: deps.authorizer,
    clock,
    kickExpiry: () => void expiry.run(),
  });
  return { leases, expiry };
}
