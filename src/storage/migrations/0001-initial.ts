import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';
import type { Engine } from '../storage-types.ts';

/**
 * The first tables. Only portable types: text, integer (booleans 0/1), bigint (times in ms) and the
 * engine's binary type. `coffer_migrations` and `coffer_locks` are made by the migration runner and
 * `withLock` themselves, since they must exist before any migration runs.
 */
export async function up(db: Kysely<Database>, engine: Engine): Promise<void> {
  const binary = engine === 'postgres' ? 'bytea' : 'blob';

  // Present on PostgreSQL already (withLock made it); on SQLite, made here for the same schema.
  await db.schema
    .createTable('coffer_locks')
    .ifNotExists()
    .addColumn('name', 'text', (c) => c.primaryKey())
    .execute();

  await db.schema
    .createTable('system')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('update_time', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('projects')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('feature_secrets', 'integer', (c) => c.notNull())
    .addColumn('feature_kms', 'integer', (c) => c.notNull())
    .addColumn('etag', 'text', (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addColumn('update_time', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('principal', 'text', (c) => c.notNull())
    .addColumn('token_hash', binary, (c) => c.notNull())
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addColumn('expire_time', 'bigint')
    .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // Every authenticated request looks its token up by hash.
  await db.schema.createIndex('tokens_token_hash').unique().on('tokens').column('token_hash').execute();
  await db.schema.createIndex('tokens_principal').on('tokens').column('principal').execute();
}
