import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';

/**
 * Secret attributes both faces can use (issue 18, the AWS face's Secrets Manager): a description,
 * tags (a JSON array of {key, value}), the six random characters that end the secret's AWS ARN, a
 * resource policy (a JSON IAM policy document) and when deletion was requested (AWS's
 * `DeletedDate`; `delete_time` stays the purge time). Existing secrets get none of them; their ARN
 * suffix is derived from their uid (secret-attribute-fns.ts).
 */
export async function up(db: Kysely<Database>): Promise<void> {
  for (const [column, type] of [
    ['description', 'text'],
    ['tags', 'text'],
    ['arn_suffix', 'text'],
    ['resource_policy', 'text'],
    ['deleted_time', 'bigint'],
  ] as const) {
    await db.schema.alterTable('sm_secrets').addColumn(column, type).execute();
  }
}
