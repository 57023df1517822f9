import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';
import type { Engine } from '../storage-types.ts';

/**
 * IAM: policies per resource (the root's included), custom roles, users, service accounts, and the
 * change log that tells every node to drop its cached decisions (the start of SPEC §9's change feed).
 */
export async function up(db: Kysely<Database>, engine: Engine): Promise<void> {
  await db.schema
    .createTable('iam_policies')
    .addColumn('resource', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text')
    .addColumn('bindings', 'text', (c) => c.notNull())
    .addColumn('etag', 'text', (c) => c.notNull())
    .addColumn('update_time', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('iam_roles')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('permissions', 'text', (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('iam_users')
    .addColumn('email', 'text', (c) => c.primaryKey())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('iam_service_accounts')
    .addColumn('email', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('iam_service_accounts_project')
    .on('iam_service_accounts')
    .columns(['project_id', 'email'])
    .execute();

  await db.schema
    .createTable('change_log')
    .addColumn('seq', engine === 'postgres' ? 'bigserial' : 'integer', (c) =>
      engine === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
    )
    .addColumn('time', 'bigint', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('resource', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text')
    .execute();
}
