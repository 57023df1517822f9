import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Database } from '../schema.ts';
import type { Engine } from '../storage-types.ts';

/**
 * A rewrap operation records who started it and the service account the instance used before the
 * switch, so each batch can re-check that this account may still decrypt with the old key and audit
 * it as the principal that did. `error` until now held "started by …" while running; it moves.
 */
export async function up(db: Kysely<Database>, _engine: Engine): Promise<void> {
  await db.schema.alterTable('sm_operations').addColumn('started_by', 'text').execute();
  await db.schema.alterTable('sm_operations').addColumn('source_service_account', 'text').execute();
  await sql`UPDATE sm_operations SET started_by = substr(error, 12), error = NULL
            WHERE state = 'running' AND error LIKE 'started by %'`.execute(db);
}
