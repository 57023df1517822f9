import type { Kysely } from 'kysely';
import { newAwsAccountId } from '../../core/ids.ts';
import type { Database } from '../schema.ts';
import type { Engine } from '../storage-types.ts';

/**
 * The AWS face (issue 18): access keys (an id `AKIA…` and a secret, sealed by the root key because
 * SigV4 needs the secret itself to verify a signature) of a principal, each bound to one project;
 * and each project's 12-digit AWS account id (unique), generated for the projects that exist.
 */
export async function up(db: Kysely<Database>, engine: Engine): Promise<void> {
  const binary = engine === 'postgres' ? 'bytea' : 'blob';
  await db.schema
    .createTable('iam_access_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('principal', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('secret_sealed', binary, (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('iam_access_keys_principal')
    .on('iam_access_keys')
    .columns(['principal', 'id'])
    .execute();
  await db.schema.alterTable('projects').addColumn('aws_account_id', 'text').execute();
  const taken = new Set<string>();
  for (const { id } of await db.selectFrom('projects').select('id').execute()) {
    let account: string;
    do account = newAwsAccountId();
    while (taken.has(account));
    taken.add(account);
    await db.updateTable('projects').set({ aws_account_id: account }).where('id', '=', id).execute();
  }
  await db.schema
    .createIndex('projects_aws_account_id')
    .on('projects')
    .column('aws_account_id')
    .unique()
    .execute();
}
