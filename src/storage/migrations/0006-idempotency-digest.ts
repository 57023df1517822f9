import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';
import type { Engine } from '../storage-types.ts';

/**
 * putSecretValue remembers what each Idempotency-Key was used for: a SHA-256 digest of the request,
 * sealed under the root key (never the value, never a bare hash of it), so a replay with another body
 * is refused instead of answered with the first version. Rows from before have no digest.
 */
export async function up(db: Kysely<Database>, engine: Engine): Promise<void> {
  const binary = engine === 'postgres' ? 'bytea' : 'blob';
  await db.schema.alterTable('sm_idempotency').addColumn('request_digest', binary).execute();
}
