import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';
import type { Engine } from '../storage-types.ts';

/** Secrets Manager: instances, secrets, versions, stages, idempotency keys, long-running operations. */
export async function up(db: Kysely<Database>, engine: Engine): Promise<void> {
  const binary = engine === 'postgres' ? 'bytea' : 'blob';

  await db.schema
    .createTable('sm_instances')
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('region_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('kms_key', 'text')
    .addColumn('kms_key_uid', 'text')
    .addColumn('etag', 'text', (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addColumn('update_time', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('sm_instances_pk', ['project_id', 'region_id', 'id'])
    .execute();
  await db.schema.createIndex('sm_instances_key').on('sm_instances').column('kms_key_uid').execute();

  await db.schema
    .createTable('sm_secrets')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('region_id', 'text', (c) => c.notNull())
    .addColumn('instance_id', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('kms_key_uid', 'text')
    .addColumn('labels', 'text', (c) => c.notNull())
    .addColumn('annotations', 'text', (c) => c.notNull())
    .addColumn('expire_time', 'bigint')
    .addColumn('rotation_period_seconds', 'bigint')
    .addColumn('next_rotation_time', 'bigint')
    .addColumn('delete_time', 'bigint')
    .addColumn('next_version', 'integer', (c) => c.notNull())
    .addColumn('etag', 'text', (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addColumn('update_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('sm_secrets_path')
    .unique()
    .on('sm_secrets')
    .columns(['project_id', 'region_id', 'instance_id', 'path'])
    .execute();
  await db.schema.createIndex('sm_secrets_key').on('sm_secrets').column('kms_key_uid').execute();
  await db.schema.createIndex('sm_secrets_expire').on('sm_secrets').column('expire_time').execute();
  await db.schema.createIndex('sm_secrets_delete').on('sm_secrets').column('delete_time').execute();
  await db.schema.createIndex('sm_secrets_rotation').on('sm_secrets').column('next_rotation_time').execute();

  await db.schema
    .createTable('sm_versions')
    .addColumn('secret_uid', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('binary', 'integer', (c) => c.notNull())
    .addColumn('ciphertext', binary)
    .addColumn('wrapped_key', binary)
    .addColumn('wrap_key_uid', 'text')
    .addColumn('follows_instance', 'integer', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addColumn('destroy_time', 'bigint')
    .addPrimaryKeyConstraint('sm_versions_pk', ['secret_uid', 'version'])
    .execute();
  await db.schema.createIndex('sm_versions_wrap_key').on('sm_versions').column('wrap_key_uid').execute();

  await db.schema
    .createTable('sm_stages')
    .addColumn('secret_uid', 'text', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('sm_stages_pk', ['secret_uid', 'stage'])
    .execute();

  await db.schema
    .createTable('sm_idempotency')
    .addColumn('secret_uid', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('sm_idempotency_pk', ['secret_uid', 'key'])
    .execute();

  await db.schema
    .createTable('sm_operations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('region_id', 'text', (c) => c.notNull())
    .addColumn('instance_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('target_key_uid', 'text')
    .addColumn('target_key_version', 'integer')
    .addColumn('total', 'integer', (c) => c.notNull())
    .addColumn('done', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('lease_until', 'bigint', (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addColumn('update_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('sm_operations_state')
    .on('sm_operations')
    .columns(['state', 'lease_until'])
    .execute();
}
