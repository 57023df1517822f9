import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.ts';
import type { Engine } from '../storage-types.ts';

/**
 * One audit record per request (docs/decisions/0009-audit-record.md): a row of `audit_events` holds
 * the request's first event in its columns and the request's other events in `companions` (covered
 * by the row's hash); `audit_terms` holds the companions' query keys that the record's own columns
 * do not, one entry per key and group commit listing the records that have it (`records`, JSON;
 * `time` the newest record's time, `first_time` the oldest's, `record_id` the first record's id),
 * so a query by action, principal, resource or project finds them. Rows written before keep
 * `companions` null and verify as before.
 */
export async function up(db: Kysely<Database>, engine: Engine): Promise<void> {
  await db.schema.alterTable('audit_events').addColumn('companions', 'text').execute();
  if (engine === 'postgres') {
    // Terms compare byte by byte (resource prefixes are ranges), as audit_events.resource does.
    await sql`CREATE TABLE audit_terms (
      project_id text NOT NULL,
      term text COLLATE "C" NOT NULL,
      time bigint NOT NULL,
      record_id text NOT NULL,
      first_time bigint NOT NULL,
      records text NOT NULL,
      CONSTRAINT audit_terms_pk PRIMARY KEY (project_id, term, time, record_id)
    )`.execute(db);
    return;
  }
  // WITHOUT ROWID: the key is the table (one b-tree per entry, not a row and an index).
  await sql`CREATE TABLE audit_terms (
    project_id text NOT NULL,
    term text NOT NULL,
    time bigint NOT NULL,
    record_id text NOT NULL,
    first_time bigint NOT NULL,
    records text NOT NULL,
    PRIMARY KEY (project_id, term, time, record_id)
  ) WITHOUT ROWID`.execute(db);
}
