import { AuditLog } from '../audit/audit-log.ts';
import { auditHeadPath } from '../audit/audit-head-file.ts';
import { loadAuditSigningKey } from '../audit/audit-signing-key.ts';
import { withAuditOutbox } from '../audit/audit-outbox.ts';
import { AuditSinkRunner } from '../audit/audit-sinks.ts';
import { UnauthenticatedAudit } from '../audit/audit-unauthenticated.ts';
import type { Barrier } from '../barrier/barrier.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config-schema.ts';
import type { Logger } from '../core/logger.ts';
import { Authorizer } from '../iam/authorizer.ts';
import { ChangeWatcher } from '../iam/change-watcher.ts';
import { IamRepo } from '../iam/iam-repo.ts';
import { IamService } from '../iam/iam-service.ts';
import { initialAdminPrincipal, isReservedUserEmail } from '../iam/principal.ts';
import { RateLimiter } from '../iam/rate-limiter.ts';
import { TokenService } from '../iam/token-service.ts';
import { UserAdminService } from '../iam/user-admin-service.ts';
import { AccessKeyRepo } from '../iam/access-key-repo.ts';
import { AccessKeyService } from '../iam/access-key-service.ts';
import { ServiceAccountKeyRepo } from '../iam/service-account-key-repo.ts';
import { ServiceAccountKeyService } from '../iam/service-account-key-service.ts';
import { ProjectService } from '../projects/project-service.ts';
import { RotationRepo } from '../rotation/rotation-repo.ts';
import { RotationService } from '../rotation/rotation-service.ts';
import {
  ChangeFeedFollower,
  invalidateLateCommits,
  kickingFollower,
} from '../storage/change-feed-follower.ts';
import { CacheInvalidation } from '../storage/cache-invalidation.ts';
import { openNodeStorage } from '../storage/open-node-storage.ts';
import { ClusterView, newNodeId, nodeApplicationName } from '../storage/cluster-view.ts';
import { withWriteTiming } from '../storage/timed-storage.ts';
import { AppMetrics } from './app-metrics.ts';
import { registerLeaseMetrics } from './lease-metrics.ts';
import { BackgroundJobs } from './background-jobs.ts';
import { ChangeFeedService } from './change-feed-service.ts';
import { createDatabaseServices } from './database-wiring.ts';
import { createLeaseServices } from './lease-wiring.ts';
import { startBarrier } from './start-seal.ts';
import { createKmsSecretsServices } from './kms-secrets-wiring.ts';
import { sealControls } from './seal-controls.ts';
import { version } from './version.ts';

import type { App } from './app-types.ts';

export type { App, Health } from './app-types.ts';

/** How `createApp` starts. */
export interface CreateAppOptions {
  /** File seal: leave a fresh store uninitialized until `finishStart()` (the server listens first). */
  readonly deferFirstInit?: boolean;
}

/** Opens storage, starts the seal, and wires the services. */
export async function createApp(
  config: Config,
  logger: Logger,
  clock: Clock,
  options: CreateAppOptions = {},
): Promise<App> {
  const metrics = new AppMetrics();
  const nodeId = newNodeId();
  const opened = await openNodeStorage({
    applicationName: nodeApplicationName(nodeId),
    dataDir: config.dataDir,
    writeTimeoutMs: config.storageWriteTimeoutMs,
    nowMs: clock.nowMs(),
    onQuery: metrics.storageReads,
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
  });
  // Every write unit's duration and outcome, as every read's (onQuery) (docs/metrics.md).
  const storage = withWriteTiming(opened, metrics.storageWrites);
  const cluster = new ClusterView(storage, nodeId);
  let barrier: Barrier;
  try {
    barrier = await startBarrier(config, storage, clock, logger, options.deferFirstInit === true);
  } catch (err) {
    await storage.close();
    throw err;
  }
  // Services write through this: a change made while serving a request carries its audit event.
  // With audit off (development only) there is nothing to carry, and no outbox row may pile up.
  // A unit that recorded a change kicks the feed follower, so the change gets its cursor at once.
  // PostgreSQL is shared by nodes: their changes reach this one through the feed, within a lease.
  // SQLite has one process (the data-dir lock): every change is local and invalidated before its
  // write resolves, so neither the lease nor a tick deadline (a tick waits behind the writer) applies.
  const multiNode = storage.engine === 'postgres';
  const changeFollower = new ChangeFeedFollower(storage, config.changePollMs, { deadline: multiNode });
  const cacheInvalidation = new CacheInvalidation();
  if (multiNode) cacheInvalidation.follow(changeFollower);
  invalidateLateCommits(storage, changeFollower, cacheInvalidation);
  const changes = kickingFollower(
    config.devAuditOff ? storage : withAuditOutbox(storage),
    changeFollower,
    cacheInvalidation,
  );
  const iamRepo = new IamRepo(storage.db);
  const principalEnabled = async (principal: string): Promise<boolean> => {
    const [kind, email] = principal.split(/:(.*)/s) as [string, string];
    if (kind === 'serviceAccount') return (await iamRepo.findServiceAccount(email))?.disabled === false;
    // Users without a row are token-only users (the first admin); users with one must be enabled. A
    // row with a reserved address says nothing about the first admin, and no other reserved user is.
    if (kind === 'user') {
      if (principal === initialAdminPrincipal) return true;
      if (isReservedUserEmail(email)) return false;
      return (await iamRepo.findUser(email))?.disabled !== true;
    }
    return false;
  };
  const tokens = new TokenService(changes, clock, principalEnabled);
  // The IAM caches serve hits only within the feed lease, as the metadata caches do.
  tokens.serveWithin(() => cacheInvalidation.fresh);
  const authorizer = new Authorizer(iamRepo, clock, () => cacheInvalidation.fresh);
  const limits = config.rateLimit;
  const principalLimiter = new RateLimiter(limits.perPrincipalPerSecond, limits.perPrincipalBurst, clock);
  const addressLimiter = new RateLimiter(limits.perAddressPerSecond, limits.perAddressBurst, clock);
  const failedAuthLimiter = new RateLimiter(
    limits.failedAuthPerAddress,
    limits.failedAuthPerAddressBurst,
    clock,
  );
  const loginLimiter = new RateLimiter(
    limits.loginsPerMinute / 60,
    Math.max(1, Math.ceil(limits.loginsPerMinute)),
    clock,
  );
  const iam = new IamService(changes, iamRepo, authorizer, tokens, clock);
  const users = new UserAdminService(changes, iamRepo, tokens, clock, loginLimiter);
  const serviceAccountKeys = new ServiceAccountKeyService({
    storage: changes,
    repo: new ServiceAccountKeyRepo(storage.db),
    iamRepo,
    authorizer,
    tokens,
    clock,
    limiter: loginLimiter,
    publicUrl: config.publicUrl,
    maxTokenTtlSeconds: config.serviceAccountTokenMaxTtlSeconds,
  });
  serviceAccountKeys.start(config.backgroundIntervalMs, (err) =>
    logger.warn({ err }, 'pruning used assertion ids failed'),
  );
  const projects = new ProjectService(changes, clock, config.regions, {
    barrier,
    invalidation: cacheInvalidation,
    maxCached: config.metadataCache.maxEntries,
    autoAwsRegions: config.aws.regions === 'auto',
  });
  const accessKeys = new AccessKeyService({
    storage: changes,
    repo: new AccessKeyRepo(storage.db),
    iamRepo,
    authorizer,
    barrier,
    clock,
    principalEnabled,
    projectExists: async (projectId) => (await projects.find(projectId)) !== undefined,
  });
  accessKeys.serveWithin(() => cacheInvalidation.fresh);
  // Dropped with the token cache (disables, revocations, the feed moving) and on seal.
  tokens.onInvalidate(() => accessKeys.invalidate());
  cacheInvalidation.subscribe((what) => {
    if (what === 'all') accessKeys.invalidate();
  });
  const watcher = new ChangeWatcher(
    changeFollower,
    () => {
      authorizer.invalidate();
      tokens.invalidate();
    },
    logger,
  );
  watcher.start();
  await changeFollower.start();
  await changeFollower.tick();
  const audit = new AuditLog(
    storage,
    logger,
    clock,
    config.auditTimeoutMs,
    { everyEvents: config.auditCheckpointEvents, everyMs: config.auditCheckpointMs },
    config.devAuditOff,
    auditHeadPath(config.dataDir),
  );
  const sinks = new AuditSinkRunner(
    storage,
    config.auditSinks.map((sink) =>
      sink.type === 'file'
        ? { ...sink, maxBytes: sink.maxBytes ?? 100 * 1024 * 1024, maxFiles: sink.maxFiles ?? 5 }
        : sink.type === 'webhook'
          ? { ...sink, timeoutMs: sink.timeoutMs ?? 5000, batchSize: sink.batchSize ?? 100 }
          : sink,
    ),
    clock,
    logger,
  );
  sinks.start(config.auditSinkIntervalMs);
  const unauthenticatedAudit = new UnauthenticatedAudit((events) => audit.append(events), clock, logger);
  unauthenticatedAudit.start(60_000);
  const onUnsealed = async () => {
    audit.setSigningKey(await loadAuditSigningKey(storage, barrier, clock.nowMs()));
  };
  if (!barrier.sealed) await onUnsealed();
  const domain = createKmsSecretsServices({
    storage: changes,
    db: storage.db,
    barrier,
    invalidation: cacheInvalidation,
    config,
    projects,
    authorizer,
    iamRepo,
    audit,
    clock,
    logger,
  });
  const databaseServices = createDatabaseServices({
    storage: changes,
    instances: domain.instances,
    secrets: domain.secrets,
    secretValues: domain.secretValues,
    authorizer,
    iamRepo,
    clock,
  });
  const rotation = new RotationService({
    storage: changes,
    repo: new RotationRepo(storage.db),
    secretsRepo: domain.secretsRepo,
    stageRepo: domain.secretStageRepo,
    secrets: domain.secrets,
    values: domain.secretValues,
    authorizer,
    audit,
    clock,
    logger,
    observer: metrics.rotations,
  });
  const jobs = new BackgroundJobs({
    barrier,
    kms: domain.kms,
    secrets: domain.secrets,
    instances: domain.instances,
    rotation,
    audit,
    clock,
    logger,
    storage,
    auditRetentionDays: config.auditRetentionDays,
    changeRetentionDays: config.changeRetentionDays,
  });
  metrics.watch({
    storage,
    barrier,
    audit,
    auditSinks: sinks,
    changeFollower,
    secretCache: domain.secretMetadata,
    kmsCache: domain.kmsCache,
    dataKeys: domain.dataKeys,
    tokens,
    authorizer,
  });
  registerLeaseMetrics(metrics.registry, storage.db, clock);
  const leaseServices = createLeaseServices({
    storage: changes,
    databases: databaseServices,
    authorizer,
    audit,
    barrier,
    clock,
    logger,
    config: config.databases,
  });
  // Lease expiry has its own (shorter) timer; a run of the background jobs runs it too.
  leaseServices.expiry.start(config.databases.expiryPollMs);
  const runBackgroundJobs = () => jobs.run().then(() => leaseServices.expiry.run());
  jobs.start(config.backgroundIntervalMs);

  return {
    config,
    logger,
    clock,
    storage,
    barrier,
    tokens,
    authorizer,
    iam,
    users,
    serviceAccountKeys,
    accessKeys,
    principalLimiter,
    addressLimiter,
    sensitiveLimiter: loginLimiter,
    failedAuthLimiter,
    unauthenticatedAudit,
    syncChanges: () => watcher.poll(),
    changeFeed: new ChangeFeedService(storage, authorizer),
    changeFollower,
    cacheInvalidation,
    dataKeys: domain.dataKeys,
    projects,
    audit,
    auditSinks: sinks,
    kms: domain.kms,
    kmsCrypto: domain.kmsCrypto,
    kmsKeyExtras: domain.kmsKeyExtras,
    kmsAliases: domain.kmsAliases,
    kmsGrants: domain.kmsGrants,
    instances: domain.instances,
    secrets: domain.secrets,
    secretValues: domain.secretValues,
    secretAttributes: domain.secretAttributes,
    keyDependents: domain.keyDependents,
    databases: databaseServices.databases,
    databaseCredentials: databaseServices.credentials,
    leases: leaseServices.leases,
    rotation,
    metrics,
    ...sealControls({ config, storage, barrier, audit, cacheInvalidation, clock, logger, onUnsealed }),
    runBackgroundJobs,
    async health() {
      let storageStatus: 'ok' | 'failing' = 'ok';
      try {
        await storage.ping();
      } catch {
        storageStatus = 'failing';
      }
      if (storage.health?.() === 'failing') storageStatus = 'failing';
      const status = barrier.sealed ? 'sealed' : storageStatus === 'ok' && !audit.failing ? 'ok' : 'degraded';
      // The nodes on this database (docs/cluster.md); null when the database cannot be asked.
      const nodes = storageStatus === 'ok' ? await cluster.nodes().catch(() => null) : null;
      return {
        status,
        version,
        storage: { engine: storage.engine, status: storageStatus },
        cluster: { nodeId: cluster.nodeId, nodes },
      };
    },
    async close() {
      metrics.close();
      watcher.stop();
      serviceAccountKeys.stop();
      await changeFollower.stop();
      await jobs.stop();
      await leaseServices.expiry.stop();
      await databaseServices.pools.closeAll();
      await unauthenticatedAudit.stop();
      await audit.close();
      await sinks.stop();
      barrier.seal();
      cacheInvalidation.invalidate('all');
      await storage.close();
    },
  };
}
