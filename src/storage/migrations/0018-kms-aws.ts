import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';

/**
 * What the AWS KMS face needs beyond keys and versions (issue #18), kept in domain tables so both faces
 * can use them: aliases (unique per project and region), key tags, key attributes (description, key
 * policy, who manages the key) and grants.
 */
export async function up(db: Kysely<Database>): Promise<void> {
  await db.schema
    .createTable('kms_aliases')
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('region_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('key_uid', 'text', (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addColumn('update_time', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('kms_aliases_pk', ['project_id', 'region_id', 'name'])
    .execute();
  await db.schema.createIndex('kms_aliases_key').on('kms_aliases').column('key_uid').execute();

  await db.schema
    .createTable('kms_key_tags')
    .addColumn('key_uid', 'text', (c) => c.notNull())
    .addColumn('tag_key', 'text', (c) => c.notNull())
    .addColumn('tag_value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('kms_key_tags_pk', ['key_uid', 'tag_key'])
    .execute();

  await db.schema
    .createTable('kms_key_attributes')
    .addColumn('key_uid', 'text', (c) => c.primaryKey())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('policy', 'text')
    .addColumn('key_manager', 'text', (c) => c.notNull())
    .addColumn('update_time', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('kms_grants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('region_id', 'text', (c) => c.notNull())
    .addColumn('key_uid', 'text', (c) => c.notNull())
    .addColumn('name', 'text')
    .addColumn('grantee_principal', 'text', (c) => c.notNull())
    .addColumn('grantee', 'text', (c) => c.notNull())
    .addColumn('retiring_principal', 'text')
    .addColumn('retiring', 'text')
    .addColumn('operations', 'text', (c) => c.notNull())
    .addColumn('constraints', 'text')
    .addColumn('issuing_principal', 'text', (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('kms_grants_key').on('kms_grants').columns(['key_uid', 'id']).execute();
  await db.schema
    .createIndex('kms_grants_retiring')
    .on('kms_grants')
    .columns(['project_id', 'region_id', 'retiring', 'id'])
    .execute();
}
