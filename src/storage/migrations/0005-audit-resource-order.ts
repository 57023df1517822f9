import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Database } from '../schema.ts';
import type { Engine } from '../storage-types.ts';

/**
 * Audit queries filter resources by ranges of names (everything under a name), which must compare
 * byte by byte to mean "starts with": SQLite's default BINARY collation does; on PostgreSQL the
 * column takes the "C" collation, whatever the database's default, and its index is rebuilt with it.
 */
export async function up(db: Kysely<Database>, engine: Engine): Promise<void> {
  if (engine !== 'postgres') return;
  await sql`ALTER TABLE audit_events ALTER COLUMN resource TYPE text COLLATE "C"`.execute(db);
}
