import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.ts';

/**
 * The change feed (docs/changes.md, decisions/0006): `change_log` rows gain what a feed item needs
 * (`principal`, `version`, `stage`) and a `cursor` that only the sequencer assigns, in commit order,
 * under the row lock of the one-row `change_feed_counter` (its `value` is the newest cursor handed
 * out, `pruned_through` the newest cursor retention removed). Rows are inserted without a cursor.
 */
export async function up(db: Kysely<Database>): Promise<void> {
  await db.schema.alterTable('change_log').addColumn('cursor', 'bigint').execute();
  await db.schema.alterTable('change_log').addColumn('version', 'integer').execute();
  await db.schema.alterTable('change_log').addColumn('stage', 'text').execute();
  await db.schema
    .alterTable('change_log')
    .addColumn('principal', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema.createIndex('change_log_cursor').unique().on('change_log').column('cursor').execute();
  await db.schema
    .createIndex('change_log_project_cursor')
    .on('change_log')
    .columns(['project_id', 'cursor'])
    .execute();
  // The sequencer's work list: rows not yet given a cursor (a partial index, portable to
  // PostgreSQL, SQLite, CockroachDB and YugabyteDB).
  await sql`CREATE INDEX change_log_unsequenced ON change_log (seq) WHERE cursor IS NULL`.execute(db);
  await db.schema
    .createTable('change_feed_counter')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('value', 'bigint', (c) => c.notNull())
    .addColumn('pruned_through', 'bigint', (c) => c.notNull())
    .execute();
  await db.insertInto('change_feed_counter').values({ id: 1, value: 0, pruned_through: 0 }).execute();
}
