/** How one table goes into a backup. */
export interface BackupTable {
  readonly name: string;
  /** Its primary key: rows are read in this order, a page at a time (keyset pagination). */
  readonly key: readonly string[];
  /** Rows left out: `column <> value` (node-bound or store-bound records). */
  readonly exclude?: { readonly column: string; readonly value: string };
}

/**
 * Every table a backup carries, in restore order (docs/backup.md says why each is in or out). A table
 * in the database that is neither here nor in `notBackedUp` fails the backup: a new table must be
 * decided on, never dropped silently.
 */
export const backupTables: readonly BackupTable[] = [
  // The seal record (sealed root key), the audit signing key (sealed), … but not the store id: the
  // restored database is a new store, bound to its data dirs on their first start.
  { name: 'system', key: ['name'], exclude: { column: 'name', value: 'store-id' } },
  { name: 'projects', key: ['id'] },
  { name: 'tokens', key: ['id'] },
  { name: 'kms_key_rings', key: ['project_id', 'region_id', 'id'] },
  { name: 'kms_keys', key: ['uid'] },
  { name: 'kms_key_versions', key: ['key_uid', 'version'] },
  { name: 'kms_aliases', key: ['project_id', 'region_id', 'name'] },
  { name: 'kms_key_tags', key: ['key_uid', 'tag_key'] },
  { name: 'kms_key_attributes', key: ['key_uid'] },
  { name: 'kms_grants', key: ['id'] },
  { name: 'audit_events', key: ['id'] },
  { name: 'audit_terms', key: ['project_id', 'term', 'time', 'record_id'] },
  { name: 'audit_checkpoints', key: ['chain_id', 'seq', 'kind'] },
  { name: 'audit_chains', key: ['chain_id'] },
  { name: 'audit_outbox', key: ['id'] },
  { name: 'audit_sink_cursors', key: ['sink', 'chain_id'] },
  { name: 'iam_policies', key: ['resource'] },
  { name: 'iam_roles', key: ['name'] },
  { name: 'iam_users', key: ['email'] },
  { name: 'iam_service_accounts', key: ['email'] },
  { name: 'iam_service_account_keys', key: ['id'] },
  { name: 'iam_assertion_jtis', key: ['service_account', 'jti'] },
  { name: 'iam_access_keys', key: ['id'] },
  { name: 'change_log', key: ['seq'] },
  { name: 'change_feed_counter', key: ['id'] },
  { name: 'sm_instances', key: ['project_id', 'region_id', 'id'] },
  { name: 'sm_secrets', key: ['uid'] },
  { name: 'sm_versions', key: ['secret_uid', 'version'] },
  { name: 'sm_stages', key: ['secret_uid', 'stage'] },
  { name: 'sm_idempotency', key: ['secret_uid', 'key'] },
  { name: 'sm_operations', key: ['id'] },
  { name: 'sm_rotations', key: ['secret_uid'] },
  { name: 'db_connections', key: ['uid'] },
  { name: 'db_roles', key: ['uid'] },
  { name: 'db_leases', key: ['id'] },
];

/**
 * Tables a backup leaves out: the migration record (the manifest's schema version stands for it),
 * the engine's lock rows, and which node delivers each audit sink (a lease of a node that is not
 * there; the restored nodes take it over).
 */
export const notBackedUp: readonly string[] = ['coffer_migrations', 'coffer_locks', 'audit_sink_leases'];

const byName = new Map(backupTables.map((table) => [table.name, table]));

/** The backup's rule for a table, or undefined when backups do not carry it. */
export function backupTable(name: string): BackupTable | undefined {
  return byName.get(name);
}
