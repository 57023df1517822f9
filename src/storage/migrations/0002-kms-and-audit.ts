import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';
import type { Engine } from '../storage-types.ts';

/**
 * KMS key rings, keys and versions, and audit events. The unique indexes are what make concurrent
 * creates on several nodes safe (`WriteRejected('unique')`), so they belong to the schema, not the code.
 */
export async function up(db: Kysely<Database>, engine: Engine): Promise<void> {
  const binary = engine === 'postgres' ? 'bytea' : 'blob';

  await db.schema
    .createTable('kms_key_rings')
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('region_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('kms_key_rings_pk', ['project_id', 'region_id', 'id'])
    .execute();

  await db.schema
    .createTable('kms_keys')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('region_id', 'text', (c) => c.notNull())
    .addColumn('key_ring_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('slug', 'text')
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('algorithm', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('primary_version', 'integer', (c) => c.notNull())
    .addColumn('rotation_period_seconds', 'bigint')
    .addColumn('next_rotation_time', 'bigint')
    .addColumn('deletion_time', 'bigint')
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addColumn('update_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('kms_keys_ring_id')
    .unique()
    .on('kms_keys')
    .columns(['project_id', 'region_id', 'key_ring_id', 'id'])
    .execute();
  // Slugs are unique per project and region; NULL slugs are distinct on both engines.
  await db.schema
    .createIndex('kms_keys_slug')
    .unique()
    .on('kms_keys')
    .columns(['project_id', 'region_id', 'slug'])
    .execute();
  // Background scans: keys due for rotation, keys whose deletion window ended.
  await db.schema
    .createIndex('kms_keys_rotation')
    .on('kms_keys')
    .columns(['state', 'next_rotation_time'])
    .execute();
  await db.schema
    .createIndex('kms_keys_deletion')
    .on('kms_keys')
    .columns(['state', 'deletion_time'])
    .execute();

  await db.schema
    .createTable('kms_key_versions')
    .addColumn('key_uid', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('material', binary)
    .addColumn('public_key_pem', 'text')
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addColumn('destroy_time', 'bigint')
    .addPrimaryKeyConstraint('kms_key_versions_pk', ['key_uid', 'version'])
    .execute();

  // Audit events: hash-chained per writer (chain_id), each holding its predecessor's hash; the
  // (chain_id, seq) key orders a chain and makes gaps visible.
  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('chain_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('time', 'bigint', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('principal', 'text', (c) => c.notNull())
    .addColumn('on_behalf_of', 'text')
    .addColumn('resource', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text')
    .addColumn('result', 'text', (c) => c.notNull())
    .addColumn('status', 'integer', (c) => c.notNull())
    .addColumn('source_ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('details', 'text')
    .addColumn('prev_hash', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('audit_events_chain')
    .unique()
    .on('audit_events')
    .columns(['chain_id', 'seq'])
    .execute();
  // Queries are per project (or of no project), newest first, with selective filters.
  await db.schema
    .createIndex('audit_events_project_time')
    .on('audit_events')
    .columns(['project_id', 'time', 'id'])
    .execute();
  await db.schema
    .createIndex('audit_events_project_action')
    .on('audit_events')
    .columns(['project_id', 'action', 'time', 'id'])
    .execute();
  await db.schema
    .createIndex('audit_events_project_principal')
    .on('audit_events')
    .columns(['project_id', 'principal', 'time', 'id'])
    .execute();
  await db.schema
    .createIndex('audit_events_project_resource')
    .on('audit_events')
    .columns(['project_id', 'resource', 'time', 'id'])
    .execute();
  await db.schema
    .createIndex('audit_events_request')
    .on('audit_events')
    .columns(['request_id', 'time', 'id'])
    .execute();

  // Signed chain heads: every few events or seconds, the head of a chain signed with Ed25519.
  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('chain_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('time', 'bigint', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('audit_checkpoints_pk', ['chain_id', 'seq', 'kind'])
    .execute();

  // The head of every chain (one row per writer process), so sinks find new events without
  // scanning the events table; and each sink's delivery cursor per chain, and its lease.
  await db.schema
    .createTable('audit_chains')
    .addColumn('chain_id', 'text', (c) => c.primaryKey())
    .addColumn('head_seq', 'bigint', (c) => c.notNull())
    .addColumn('update_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('audit_sink_cursors')
    .addColumn('sink', 'text', (c) => c.notNull())
    .addColumn('chain_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('audit_sink_cursors_pk', ['sink', 'chain_id'])
    .execute();
  // The audit event of a state change, written in the change's own unit: if the chained event then
  // cannot be written, the change is still audited (a background job moves the row into the chain).
  await db.schema
    .createTable('audit_outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('audit_sink_leases')
    .addColumn('sink', 'text', (c) => c.primaryKey())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('lease_until', 'bigint', (c) => c.notNull())
    .execute();
}
