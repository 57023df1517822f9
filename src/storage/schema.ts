import type { Generated } from 'kysely';

/**
 * Table types for Kysely. Conventions that hold on both engines: times are integers of milliseconds
 * since the epoch (`bigint` columns, read back as numbers), booleans are integers 0/1, binary is
 * BLOB (SQLite) / BYTEA (PostgreSQL) and is read back as a Buffer or Uint8Array (see `toBuffer`).
 */

/** Applied migrations. */
export interface MigrationsTable {
  id: string;
  applied_at: number;
}

/** Named rows locked with SELECT … FOR UPDATE to serialize migrations and initialization. */
export interface LocksTable {
  name: string;
}

/** Small named system records (seal configuration, root key check, audit keys…). */
export interface SystemTable {
  name: string;
  /** JSON text, never a secret in clear. */
  value: string;
  update_time: number;
}

/** Projects and their feature gates. */
export interface ProjectsTable {
  id: string;
  display_name: string;
  feature_secrets: number;
  feature_kms: number;
  etag: string;
  create_time: number;
  update_time: number;
  /** The project's 12-digit AWS account id (migration 0016; unique). */
  aws_account_id: string | null;
}

/** AWS access keys (migration 0016): the secret sealed by the root key, bound to its id. */
export interface IamAccessKeysTable {
  /** `AKIA` and 16 base32 characters. */
  id: string;
  /** `user:{email}` or `serviceAccount:{email}`. */
  principal: string;
  project_id: string;
  secret_sealed: Uint8Array;
  disabled: number;
  create_time: number;
}

/** API tokens: only the SHA-256 of the secret part is stored. */
export interface TokensTable {
  id: string;
  principal: string;
  token_hash: Uint8Array;
  create_time: number;
  expire_time: number | null;
  revoked: number;
  /** The service-account key the token was exchanged with (revoked with it), if any. */
  source_key: string | null;
}

/** The public half of a service-account key (the private half is never stored). */
export interface IamServiceAccountKeysTable {
  id: string;
  service_account: string;
  project_id: string;
  /** RS256, ES256 or EdDSA. */
  algorithm: string;
  /** SPKI PEM. */
  public_key: string;
  disabled: number;
  create_time: number;
  expire_time: number | null;
}

/** Assertion ids already exchanged, per account, kept until the assertion expires (replay guard). */
export interface IamAssertionJtisTable {
  service_account: string;
  jti: string;
  expire_time: number;
}

/** KMS key rings, named by (project, region, id). */
export interface KmsKeyRingsTable {
  project_id: string;
  region_id: string;
  id: string;
  display_name: string;
  description: string;
  create_time: number;
}

/**
 * KMS keys. `uid` is the internal identity written into ciphertext headers; `id` is the caller-facing
 * UUID, unique within its key ring (two projects may choose the same ids, as seed 002's examples do).
 */
export interface KmsKeysTable {
  uid: string;
  project_id: string;
  region_id: string;
  key_ring_id: string;
  id: string;
  slug: string | null;
  display_name: string;
  algorithm: string;
  purpose: string;
  state: string;
  primary_version: number;
  rotation_period_seconds: number | null;
  next_rotation_time: number | null;
  deletion_time: number | null;
  create_time: number;
  update_time: number;
}

/** KMS key versions; `material` is the key material sealed by the root key, null once destroyed. */
export interface KmsKeyVersionsTable {
  key_uid: string;
  version: number;
  state: string;
  material: Uint8Array | null;
  public_key_pem: string | null;
  create_time: number;
  destroy_time: number | null;
}

/** KMS aliases (`alias/…`), unique per project and region, each naming one key (issue #18). */
export interface KmsAliasesTable {
  project_id: string;
  region_id: string;
  name: string;
  key_uid: string;
  create_time: number;
  update_time: number;
}

/** KMS key tags (AWS TagResource). */
export interface KmsKeyTagsTable {
  key_uid: string;
  tag_key: string;
  tag_value: string;
}

/** KMS key attributes the AWS face shows: description, key policy (JSON, stored), key manager. */
export interface KmsKeyAttributesTable {
  key_uid: string;
  description: string;
  policy: string | null;
  key_manager: string;
  update_time: number;
}

/** KMS grants: a grantee principal may use a key for the listed operations, under constraints. */
export interface KmsGrantsTable {
  id: string;
  project_id: string;
  region_id: string;
  key_uid: string;
  name: string | null;
  grantee_principal: string;
  grantee: string;
  retiring_principal: string | null;
  retiring: string | null;
  operations: string;
  constraints: string | null;
  issuing_principal: string;
  create_time: number;
}

/** Audit events, hash-chained per writer: `hash` = SHA-256 over the canonical event and `prev_hash`. */
export interface AuditEventsTable {
  id: string;
  chain_id: string;
  seq: number;
  time: number;
  request_id: string;
  action: string;
  principal: string;
  on_behalf_of: string | null;
  resource: string;
  project_id: string | null;
  result: string;
  status: number;
  source_ip: string | null;
  user_agent: string | null;
  details: string | null;
  prev_hash: string;
  hash: string;
  /**
   * The request's other events (a record, docs/decisions/0009-audit-record.md): JSON, or null for a record of one
   * event (every row written before migration 0020). Covered by `hash`.
   */
  companions: string | null;
}

/**
 * Query keys of companion events that their record's own columns do not hold (migration 0020), one
 * entry per key and group commit: `term` is `a:<action>`, `p:<principal>`, `r:<resource>`, or `o:`
 * (a companion of another project).
 */
export interface AuditTermsTable {
  /** The companion's project, or '' for none. */
  project_id: string;
  term: string;
  /** The newest listed record's time. */
  time: number;
  /** The first listed record's id. */
  record_id: string;
  /** The oldest listed record's time. */
  first_time: number;
  /** The ids of the records with this key (JSON list). */
  records: string;
}

/** Signed chain heads. */
export interface AuditCheckpointsTable {
  chain_id: string;
  seq: number;
  hash: string;
  time: number;
  /** `periodic`, `closing` (the writer stopped) or `prune` (events up to here were pruned on purpose). */
  kind: string;
  signature: string;
  /** The checkpoint before this one (`chain:seq:kind:hash` or `genesis`); null on v1 checkpoints. */
  prev_checkpoint: string | null;
}

/** Audit events of committed changes not yet in a chain (see audit/audit-outbox.ts). */
export interface AuditOutboxTable {
  id: string;
  event: string;
  create_time: number;
}

/** Each chain's head, so sinks find undelivered events cheaply. */
export interface AuditChainsTable {
  chain_id: string;
  head_seq: number;
  update_time: number;
  /** Position of the newest writer checkpoint (2·seq, +1 when closing), for sink delivery. */
  checkpoint_pos: Generated<number>;
}

/** A sink's delivery cursor per chain. */
export interface AuditSinkCursorsTable {
  sink: string;
  chain_id: string;
  seq: number;
  /** Position of the newest checkpoint delivered (see `audit_chains.checkpoint_pos`). */
  checkpoint_pos: Generated<number>;
}

/** Which node delivers a sink, until when. */
export interface AuditSinkLeasesTable {
  sink: string;
  owner: string;
  lease_until: number;
}

/** An IAM policy attached to a resource (`root`, `projects/{p}`, …); bindings as JSON. */
export interface IamPoliciesTable {
  resource: string;
  project_id: string | null;
  bindings: string;
  etag: string;
  update_time: number;
}

/** Custom roles, named `projects/{p}/roles/{roleId}`; permissions as a JSON array. */
export interface IamRolesTable {
  name: string;
  project_id: string;
  title: string;
  permissions: string;
  create_time: number;
}

/** Users (`user:{email}`); the password only as a scrypt hash. */
export interface IamUsersTable {
  email: string;
  password_hash: string;
  disabled: number;
  create_time: number;
}

/** Service accounts (`serviceAccount:{email}`), each in one project. */
export interface IamServiceAccountsTable {
  email: string;
  project_id: string;
  name: string;
  display_name: string;
  disabled: number;
  create_time: number;
}

/** Ordered record of metadata changes; nodes watch it to drop cached decisions. */
export interface ChangeLogTable {
  /** Insertion order (a sequence): NOT the feed's order, see `cursor`. */
  seq: Generated<number>;
  time: number;
  /** The feed item's `type` (docs/changes.md). */
  kind: string;
  resource: string;
  project_id: string | null;
  /** The feed position, assigned in commit order by the sequencer (null until then). */
  cursor: number | null;
  version: number | null;
  stage: string | null;
  /** Who made the change (`service:…` for background jobs). */
  principal: Generated<string>;
  /**
   * Who could see a change that removes access, before it (JSON `[{"members": [...]}, …]`); shown
   * to them too, never in the item. Null for other changes (migration 0012).
   */
  audience: string | null;
}

/** The one row (id 1) the change-feed sequencer locks: the newest cursor given, and the newest pruned. */
export interface ChangeFeedCounterTable {
  id: number;
  value: number;
  pruned_through: number;
}

/** Secrets Manager instances; `kms_key` is the seed-002 kmsKey object as JSON. */
export interface SmInstancesTable {
  project_id: string;
  region_id: string;
  id: string;
  name: string;
  kms_key: string | null;
  kms_key_uid: string | null;
  etag: string;
  create_time: number;
  update_time: number;
}

/** Secrets; `kms_key_uid` is an explicit (immutable) key binding, null when following the instance. */
export interface SmSecretsTable {
  uid: string;
  project_id: string;
  region_id: string;
  instance_id: string;
  path: string;
  kms_key_uid: string | null;
  labels: string;
  annotations: string;
  expire_time: number | null;
  rotation_period_seconds: number | null;
  next_rotation_time: number | null;
  delete_time: number | null;
  next_version: number;
  etag: string;
  create_time: number;
  update_time: number;
  /** The rotator configuration (JSON, migration 0013), or null: the schedule only records `rotation_due`. */
  rotator: string | null;
  /** Migration 0017: description, tags (JSON array of {key, value}), ARN suffix, resource policy, deletion request time. */
  description: string | null;
  tags: string | null;
  arn_suffix: string | null;
  resource_policy: string | null;
  deleted_time: number | null;
}

/** Secret versions: the value sealed by a fresh data key, the data key wrapped by a KMS key or the root key. */
export interface SmVersionsTable {
  secret_uid: string;
  version: number;
  state: string;
  binary: number;
  ciphertext: Uint8Array | null;
  wrapped_key: Uint8Array | null;
  wrap_key_uid: string | null;
  follows_instance: number;
  created_by: string;
  create_time: number;
  destroy_time: number | null;
}

/** Staging labels: one version per stage. */
export interface SmStagesTable {
  secret_uid: string;
  stage: string;
  version: number;
}

/** Idempotency keys of putSecretValue. */
export interface SmIdempotencyTable {
  secret_uid: string;
  key: string;
  version: number;
  create_time: number;
  /** The request's SHA-256 digest sealed under the root key (null on rows from before 0006). */
  request_digest: Uint8Array | null;
}

/** Long-running operations (instance key switch rewraps), claimed by lease. */
export interface SmOperationsTable {
  id: string;
  project_id: string;
  region_id: string;
  instance_id: string;
  kind: string;
  target_key_uid: string | null;
  target_key_version: number | null;
  total: number;
  done: number;
  /** running, paused (a check failed; `error` says which), done, failed or superseded. */
  state: string;
  error: string | null;
  /** The principal that switched the key. */
  started_by: string | null;
  /** The instance's service account before the switch (decrypts with the old key), if it had one. */
  source_service_account: string | null;
  lease_until: number;
  create_time: number;
  update_time: number;
}

/** Database connections of an instance (issue 15 §2); `admin_secret` is the secret REF as given. */
export interface DbConnectionsTable {
  uid: string;
  project_id: string;
  region_id: string;
  instance_id: string;
  name: string;
  host: string;
  port: number;
  database: string;
  admin_secret: string;
  sslmode: string | null;
  max_open_connections: number;
  etag: string;
  create_time: number;
  update_time: number;
}

/** Roles of a database connection: statement templates as JSON arrays (null revocation = default). */
export interface DbRolesTable {
  uid: string;
  connection_uid: string;
  name: string;
  creation_statements: string;
  revocation_statements: string | null;
  default_ttl_seconds: number;
  max_ttl_seconds: number;
  renewable: number;
  /** The connection's admin secret REF when the role was put (migration 0015). */
  admin_secret: string | null;
  etag: string;
  create_time: number;
  update_time: number;
}

/** Leases of issued database credentials (never the password); claimed by the expiry job. */
export interface DbLeasesTable {
  id: string;
  connection_uid: string;
  role_uid: string;
  project_id: string;
  region_id: string;
  instance_id: string;
  database_name: string;
  role_name: string;
  username: string;
  principal: string;
  /** active, revoking, revoked or revoke_failed. */
  state: string;
  renewable: number;
  issue_time: number;
  expire_time: number;
  max_expire_time: number;
  revoke_time: number | null;
  attempts: number;
  next_attempt_time: number | null;
  last_error: string | null;
  claim_owner: string | null;
  claim_until: number | null;
}

/** A secret's rotation state (migration 0013): the rotation in progress, failures, the claim. */
export interface SmRotationsTable {
  secret_uid: string;
  /** idle, in_progress or failed. */
  state: string;
  /** The step to run next while in progress (create, set, test, finish). */
  step: string | null;
  rotation_id: string | null;
  pending_version: number | null;
  /** The version staged `current` when the rotation began. */
  base_version: number | null;
  attempts: number;
  next_attempt_time: number | null;
  last_success_time: number | null;
  last_failure_time: number | null;
  last_failure_step: string | null;
  last_failure_message: string | null;
  claim_owner: string | null;
  claim_until: number | null;
}

/** Every table Coffer has. */
export interface Database {
  coffer_migrations: MigrationsTable;
  coffer_locks: LocksTable;
  system: SystemTable;
  projects: ProjectsTable;
  tokens: TokensTable;
  kms_key_rings: KmsKeyRingsTable;
  kms_keys: KmsKeysTable;
  kms_key_versions: KmsKeyVersionsTable;
  kms_aliases: KmsAliasesTable;
  kms_key_tags: KmsKeyTagsTable;
  kms_key_attributes: KmsKeyAttributesTable;
  kms_grants: KmsGrantsTable;
  audit_events: AuditEventsTable;
  audit_terms: AuditTermsTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_chains: AuditChainsTable;
  audit_outbox: AuditOutboxTable;
  audit_sink_cursors: AuditSinkCursorsTable;
  audit_sink_leases: AuditSinkLeasesTable;
  iam_policies: IamPoliciesTable;
  iam_roles: IamRolesTable;
  iam_users: IamUsersTable;
  iam_service_accounts: IamServiceAccountsTable;
  iam_service_account_keys: IamServiceAccountKeysTable;
  iam_assertion_jtis: IamAssertionJtisTable;
  iam_access_keys: IamAccessKeysTable;
  change_log: ChangeLogTable;
  change_feed_counter: ChangeFeedCounterTable;
  sm_instances: SmInstancesTable;
  sm_secrets: SmSecretsTable;
  sm_versions: SmVersionsTable;
  sm_stages: SmStagesTable;
  sm_idempotency: SmIdempotencyTable;
  sm_operations: SmOperationsTable;
  db_connections: DbConnectionsTable;
  db_roles: DbRolesTable;
  db_leases: DbLeasesTable;
  sm_rotations: SmRotationsTable;
}

/** Normalizes a binary column value (Uint8Array from node:sqlite, Buffer from pg) to a Buffer. */
export function toBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
