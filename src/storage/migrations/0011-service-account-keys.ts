import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';

/**
 * Service-account keys (issue 13 §2): the public half of each key (the private half is handed out
 * once and never stored), the assertion ids (`jti`) already exchanged, kept until they expire so a
 * replay is refused on every node, and the key a token was exchanged with (`tokens.source_key`), so
 * disabling or deleting a key revokes its tokens.
 */
export async function up(db: Kysely<Database>): Promise<void> {
  await db.schema
    .createTable('iam_service_account_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('service_account', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('algorithm', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addColumn('expire_time', 'bigint')
    .execute();
  await db.schema
    .createIndex('iam_service_account_keys_account')
    .on('iam_service_account_keys')
    .columns(['service_account', 'id'])
    .execute();
  await db.schema
    .createTable('iam_assertion_jtis')
    .addColumn('service_account', 'text', (c) => c.notNull())
    .addColumn('jti', 'text', (c) => c.notNull())
    .addColumn('expire_time', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('iam_assertion_jtis_pk', ['service_account', 'jti'])
    .execute();
  await db.schema
    .createIndex('iam_assertion_jtis_expire')
    .on('iam_assertion_jtis')
    .column('expire_time')
    .execute();
  await db.schema.alterTable('tokens').addColumn('source_key', 'text').execute();
  await db.schema.createIndex('tokens_source_key').on('tokens').column('source_key').execute();
}
