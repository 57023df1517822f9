import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';

/**
 * The audience snapshot of a change that removes access (docs/changes.md, "Who sees what"): who could
 * see it before it was made, as JSON bindings (`[{"members": [...]}, …]`): the members of the
 * removed bindings of an `iam.policy_changed`, the deleted resource's own policy for a purge, an
 * expiry or an instance deletion. Null for every other change.
 */
export async function up(db: Kysely<Database>): Promise<void> {
  await db.schema.alterTable('change_log').addColumn('audience', 'text').execute();
}
