import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';

/**
 * Rotation that rotates (issue 15 §1): a secret's rotator configuration (validated JSON, references
 * to other secrets as given, never values) on `sm_secrets.rotator`, and one `sm_rotations` row per
 * secret that has rotated or is rotating: the state of the rotation in progress (the step it reached,
 * the pending version, a stable rotation id), its failures and backoff, and the claim (owner and
 * lease end) that lets one node at a time run it. Times are epoch milliseconds.
 */
export async function up(db: Kysely<Database>): Promise<void> {
  await db.schema.alterTable('sm_secrets').addColumn('rotator', 'text').execute();
  await db.schema
    .createTable('sm_rotations')
    .addColumn('secret_uid', 'text', (c) => c.primaryKey())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('step', 'text')
    .addColumn('rotation_id', 'text')
    .addColumn('pending_version', 'integer')
    .addColumn('base_version', 'integer')
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('next_attempt_time', 'bigint')
    .addColumn('last_success_time', 'bigint')
    .addColumn('last_failure_time', 'bigint')
    .addColumn('last_failure_step', 'text')
    .addColumn('last_failure_message', 'text')
    .addColumn('claim_owner', 'text')
    .addColumn('claim_until', 'bigint')
    .execute();
  await db.schema
    .createIndex('sm_rotations_retry')
    .on('sm_rotations')
    .columns(['state', 'next_attempt_time'])
    .execute();
}
