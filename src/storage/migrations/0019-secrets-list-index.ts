import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';
import type { Engine } from '../storage-types.ts';

/**
 * The web console's secrets list (issue #17) filters an instance's secrets by label and pages by
 * path. On SQLite, an index of (instance, path, labels) lets a label filter scan index entries in
 * path order instead of reading every row of a 100,000-secret instance (SecretsRepo.listSecrets).
 * PostgreSQL gets none: a B-tree entry is capped near 2.7 kB and a secret's labels may be larger
 * (64 labels of 256 characters), so such an index would refuse writes; its row scan is fast enough.
 */
export async function up(db: Kysely<Database>, engine: Engine): Promise<void> {
  if (engine !== 'sqlite') return;
  await db.schema
    .createIndex('sm_secrets_list')
    .on('sm_secrets')
    .columns(['project_id', 'region_id', 'instance_id', 'path', 'labels'])
    .execute();
}
