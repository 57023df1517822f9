import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';
import { stmt, type WriteStatement } from './storage-types.ts';

/** Reads the JSON text of a system record, or undefined. */
export async function readSystemRecord(db: Kysely<Database>, name: string): Promise<string | undefined> {
  const row = await db.selectFrom('system').select('value').where('name', '=', name).executeTakeFirst();
  return row?.value;
}

/** A statement that inserts a system record; fails with a unique violation when it already exists. */
export function insertSystemRecord(
  db: Kysely<Database>,
  name: string,
  value: string,
  nowMs: number,
): WriteStatement {
  return stmt(db.insertInto('system').values({ name, value, update_time: nowMs }));
}

/** A statement that inserts or replaces a system record. */
export function upsertSystemRecord(
  db: Kysely<Database>,
  name: string,
  value: string,
  nowMs: number,
): WriteStatement {
  return stmt(
    db
      .insertInto('system')
      .values({ name, value, update_time: nowMs })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value, update_time: nowMs })),
  );
}
