import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.ts';
import type { Engine } from '../storage-types.ts';

/**
 * The web console's secrets list (issue #17) pages an instance's secrets by path, under a prefix
 * and with labels, and must stay fast at 100,000 secrets (SecretsRepo.listSecrets).
 * - SQLite: an index of (instance, path, labels): a label filter scans index entries in path order
 *   instead of reading every row.
 * - PostgreSQL: (instance, path COLLATE "C"), so paths order as bytes (as on SQLite) and a prefix is
 *   an index range whatever the database's collation; and a GIN index of the labels as JSON for
 *   label filters. (A B-tree entry holding the labels could exceed PostgreSQL's ~2.7 kB cap.)
 */
export async function up(db: Kysely<Database>, engine: Engine): Promise<void> {
  if (engine === 'postgres') {
    await sql`CREATE INDEX sm_secrets_list ON sm_secrets (project_id, region_id, instance_id, (path COLLATE "C"))`.execute(
      db,
    );
    await sql`CREATE INDEX sm_secrets_labels ON sm_secrets USING gin ((labels::jsonb))`.execute(db);
    return;
  }
  await db.schema
    .createIndex('sm_secrets_list')
    .on('sm_secrets')
    .columns(['project_id', 'region_id', 'instance_id', 'path', 'labels'])
    .execute();
}
