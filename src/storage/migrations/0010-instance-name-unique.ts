import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';
import type { Engine } from '../storage-types.ts';

/**
 * An instance name is unique in its project and region: a name goes where the id goes in URLs, so
 * an admin of one instance must not take another's name and receive the writes meant for it.
 * Existing duplicates (which resolved to no instance) are all renamed `{name}-{id}` (the name cut so
 * the result stays within 200 characters), so none of them inherits the shared name: the oldest may
 * be the one that took it. Their etags change, so an update based on the old name is refused.
 */
export async function up(db: Kysely<Database>, _engine: Engine): Promise<void> {
  const duplicates = await db
    .selectFrom('sm_instances as i')
    .select(['i.project_id', 'i.region_id', 'i.id', 'i.name'])
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('sm_instances as o')
          .select('o.id')
          .whereRef('o.project_id', '=', 'i.project_id')
          .whereRef('o.region_id', '=', 'i.region_id')
          .whereRef('o.name', '=', 'i.name')
          .whereRef('o.id', '<>', 'i.id'),
      ),
    )
    .orderBy('i.id')
    .execute();
  for (const row of duplicates) {
    await db
      .updateTable('sm_instances')
      .set({ name: `${row.name.slice(0, 200 - 37)}-${row.id}`, etag: randomBytes(9).toString('base64url') })
      .where('project_id', '=', row.project_id)
      .where('region_id', '=', row.region_id)
      .where('id', '=', row.id)
      .execute();
  }
  await db.schema
    .createIndex('sm_instances_name')
    .unique()
    .on('sm_instances')
    .columns(['project_id', 'region_id', 'name'])
    .execute();
}
