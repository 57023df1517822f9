import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';

/**
 * Dynamic database credentials (issue 15 §2): database connections of an instance (the admin
 * credential is a reference to a Coffer secret, never a value), the roles issued on them (statement
 * templates as JSON arrays) and the leases issued (one per credential; the password is never stored,
 * only what revocation needs: the username). Times are epoch milliseconds.
 */
export async function up(db: Kysely<Database>): Promise<void> {
  await db.schema
    .createTable('db_connections')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('region_id', 'text', (c) => c.notNull())
    .addColumn('instance_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('port', 'integer', (c) => c.notNull())
    .addColumn('database', 'text', (c) => c.notNull())
    .addColumn('admin_secret', 'text', (c) => c.notNull())
    .addColumn('sslmode', 'text')
    .addColumn('max_open_connections', 'integer', (c) => c.notNull())
    .addColumn('etag', 'text', (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addColumn('update_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('db_connections_name')
    .unique()
    .on('db_connections')
    .columns(['project_id', 'region_id', 'instance_id', 'name'])
    .execute();

  await db.schema
    .createTable('db_roles')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('connection_uid', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('creation_statements', 'text', (c) => c.notNull())
    .addColumn('revocation_statements', 'text')
    .addColumn('default_ttl_seconds', 'bigint', (c) => c.notNull())
    .addColumn('max_ttl_seconds', 'bigint', (c) => c.notNull())
    .addColumn('renewable', 'integer', (c) => c.notNull())
    .addColumn('etag', 'text', (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addColumn('update_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('db_roles_name')
    .unique()
    .on('db_roles')
    .columns(['connection_uid', 'name'])
    .execute();

  await db.schema
    .createTable('db_leases')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('connection_uid', 'text', (c) => c.notNull())
    .addColumn('role_uid', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('region_id', 'text', (c) => c.notNull())
    .addColumn('instance_id', 'text', (c) => c.notNull())
    .addColumn('database_name', 'text', (c) => c.notNull())
    .addColumn('role_name', 'text', (c) => c.notNull())
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('principal', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('renewable', 'integer', (c) => c.notNull())
    .addColumn('issue_time', 'bigint', (c) => c.notNull())
    .addColumn('expire_time', 'bigint', (c) => c.notNull())
    .addColumn('max_expire_time', 'bigint', (c) => c.notNull())
    .addColumn('revoke_time', 'bigint')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_time', 'bigint')
    .addColumn('last_error', 'text')
    .addColumn('claim_owner', 'text')
    .addColumn('claim_until', 'bigint')
    .execute();
  await db.schema.createIndex('db_leases_expiry').on('db_leases').columns(['state', 'expire_time']).execute();
  await db.schema
    .createIndex('db_leases_role')
    .on('db_leases')
    .columns(['connection_uid', 'role_uid', 'state'])
    .execute();
  await db.schema.createIndex('db_leases_principal').on('db_leases').column('principal').execute();
  await db.schema.createIndex('db_leases_username').on('db_leases').column('username').execute();
}
