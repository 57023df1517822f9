import type { AuditLog } from '../audit/audit-log.ts';
import type { AuditSinkRunner } from '../audit/audit-sinks.ts';
import type { UnauthenticatedAudit } from '../audit/audit-unauthenticated.ts';
import type { Barrier, SealStatus } from '../barrier/barrier.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config-schema.ts';
import type { Logger } from '../core/logger.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { IamService } from '../iam/iam-service.ts';
import type { RateLimiter } from '../iam/rate-limiter.ts';
import type { AccessKeyService } from '../iam/access-key-service.ts';
import type { ServiceAccountKeyService } from '../iam/service-account-key-service.ts';
import type { TokenService } from '../iam/token-service.ts';
import type { UserAdminService } from '../iam/user-admin-service.ts';
import type { KmsAliasService } from '../kms/kms-alias-service.ts';
import type { KmsCryptoService } from '../kms/kms-crypto-service.ts';
import type { KmsGrantService } from '../kms/kms-grant-service.ts';
import type { KmsKeyExtrasService } from '../kms/kms-key-extras-service.ts';
import type { KmsService } from '../kms/kms-service.ts';
import type { ProjectService } from '../projects/project-service.ts';
import type { DataKeyCache } from '../secrets/data-key-cache.ts';
import type { InstanceService } from '../secrets/instance-service.ts';
import type { KeyDependents } from '../secrets/key-dependents.ts';
import type { SecretService } from '../secrets/secret-service.ts';
import type { SecretValueService } from '../secrets/secret-value-service.ts';
import type { SecretAttributeService } from '../secrets/secret-attribute-service.ts';
import type { RotationService } from '../rotation/rotation-service.ts';
import type { CacheInvalidation } from '../storage/cache-invalidation.ts';
import type { ChangeFeedFollower } from '../storage/change-feed-follower.ts';
import type { Storage } from '../storage/storage-types.ts';
import type { AppMetrics } from './app-metrics.ts';
import type { ChangeFeedService } from './change-feed-service.ts';
import type { CredentialIssuer } from '../databases/credential-issuer.ts';
import type { DatabaseService } from '../databases/database-service.ts';
import type { LeaseService } from '../databases/lease-service.ts';

/** The health summary of `GET /v2/health`. */
export interface Health {
  readonly status: 'ok' | 'degraded' | 'sealed';
  readonly version: string;
  readonly storage: { readonly engine: string; readonly status: 'ok' | 'failing' };
  /** This node's id and the ids of the nodes it sees on its database (docs/cluster.md). */
  readonly cluster: { readonly nodeId: string; readonly nodes: readonly string[] | null };
}

/** Every service of a running node, built once, in dependency order. */
export interface App {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly storage: Storage;
  readonly barrier: Barrier;
  readonly tokens: TokenService;
  readonly authorizer: Authorizer;
  readonly iam: IamService;
  /** Users: creation and login, disable/enable and sessions, and the root token's rotation. */
  readonly users: UserAdminService;
  /** Service-account keys and the exchange of assertions signed with them for tokens. */
  readonly serviceAccountKeys: ServiceAccountKeyService;
  /** AWS access keys (SigV4 credentials of service accounts and users, docs/aws.md). */
  readonly accessKeys: AccessKeyService;
  /** Per-principal request limiter. */
  readonly principalLimiter: RateLimiter;
  /** Per-source-address request limiter. */
  readonly addressLimiter: RateLimiter;
  /** The strict limiter of logins and unseal attempts. */
  readonly sensitiveLimiter: RateLimiter;
  /** Failed authentications per source address (429 before the token is looked up). */
  readonly failedAuthLimiter: RateLimiter;
  /** Counts of requests refused before authentication, written as system events once a minute. */
  readonly unauthenticatedAudit: UnauthenticatedAudit;
  /** Sequences and re-reads the change feed now, dropping stale caches (tests; the server polls on its own). */
  syncChanges(): Promise<void>;
  /** Reads of projects' change feeds (docs/changes.md). */
  readonly changeFeed: ChangeFeedService;
  /** The node's one feed reader: IAM caches and change streams subscribe to it. */
  readonly changeFollower: ChangeFeedFollower;
  /** Invalidation of this node's metadata caches (local writes at once, other nodes via the feed). */
  readonly cacheInvalidation: CacheInvalidation;
  /** Unwrapped secret data keys of this node (docs/decisions/0008-data-key-cache.md). */
  readonly dataKeys: DataKeyCache;
  readonly projects: ProjectService;
  readonly audit: AuditLog;
  /** Delivery of audit events to the configured sinks. */
  readonly auditSinks: AuditSinkRunner;
  readonly kms: KmsService;
  readonly kmsCrypto: KmsCryptoService;
  /** Key description, policy, tags and rotation setting; the `aws` key ring (issue #18). */
  readonly kmsKeyExtras: KmsKeyExtrasService;
  /** Key aliases and AWS-managed keys (issue #18). */
  readonly kmsAliases: KmsAliasService;
  /** Key grants (issue #18). */
  readonly kmsGrants: KmsGrantService;
  readonly instances: InstanceService;
  readonly secrets: SecretService;
  readonly secretValues: SecretValueService;
  /** Description, tags, resource policy, version ids and AWS-style label moves of secrets (issue #18). */
  readonly secretAttributes: SecretAttributeService;
  /** What depends on a KMS key or key version, named as far as the caller may see. */
  readonly keyDependents: KeyDependents;
  /** Database connections and their roles: the configuration of dynamic credentials. */
  readonly databases: DatabaseService;
  /** Issues dynamic database credentials (`POST …/roles/{role}/issue`). */
  readonly databaseCredentials: CredentialIssuer;
  /** Leases of dynamic credentials: get, renew, revoke, list, revoke-prefix (expiry runs as a job). */
  readonly leases: LeaseService;
  /** The rotation engine: rotator checks, `POST …/rotate`, the schedule's rotations, `rotationStatus`. */
  readonly rotation: RotationService;
  /** This node's Prometheus registry and the request metrics the HTTP layer feeds (docs/metrics.md). */
  readonly metrics: AppMetrics;
  /**
   * Seals this node: signs the audit head (events up to now, the seal's own included, written
   * first) and writes the head file, then drops the root key and every unsealed key from memory.
   * The keys are dropped even when signing fails or times out (bounded by the audit timeout); it
   * then rejects with `audit_unavailable`, the node sealed all the same.
   */
  seal(): Promise<void>;
  /** Runs due background work once (rotations, deletions); the server runs it on a timer. */
  runBackgroundJobs(): Promise<void>;
  /** Initializes a Shamir-sealed node (`POST /v2/sys/init`). */
  initialize(secretShares: number, secretThreshold: number): Promise<{ keys: string[]; rootToken: string }>;
  /**
   * Adds an unseal share to the attempt `nonce` (or starts one for `source`, the caller's address as
   * the per-address limiter counts it), or abandons that attempt (`reset`).
   */
  unseal(
    share: Buffer | undefined,
    reset: boolean,
    nonce: string | undefined,
    source: string,
  ): Promise<SealStatus>;
  /** Current seal status (re-reads storage when another node may have initialized); `nonce`: that attempt's. */
  sealStatus(nonce?: string): Promise<SealStatus>;
  /** Node health. */
  health(): Promise<Health>;
  /**
   * Completes a start made with `deferFirstInit`: the file seal's first initialization (key file,
   * first admin, root-token), once the listener is up. A no-op when there is nothing left to do.
   */
  finishStart(): Promise<void>;
  /** Closes storage; the HTTP server must be closed first. */
  close(): Promise<void>;
}
