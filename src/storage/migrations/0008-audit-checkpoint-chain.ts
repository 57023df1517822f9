import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';

/**
 * Checkpoints form a chain: each names the one before it (`prev_checkpoint`, signed with it), so
 * the newest signed head commits to every earlier one and a cut-back chain is found. Each chain also
 * records the position of its newest writer checkpoint (`checkpoint_pos`), so sinks find checkpoints
 * they have not received without scanning the checkpoints, and each sink's cursor the newest one sent.
 */
export async function up(db: Kysely<Database>): Promise<void> {
  await db.schema.alterTable('audit_checkpoints').addColumn('prev_checkpoint', 'text').execute();
  await db.schema
    .alterTable('audit_chains')
    .addColumn('checkpoint_pos', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('audit_sink_cursors')
    .addColumn('checkpoint_pos', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}
