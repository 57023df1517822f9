import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.ts';

/**
 * The admin secret a database role was written under (`db_roles.admin_secret`, the connection's
 * `adminSecret` REF when the role was put): a role whose connection now names another admin secret
 * is not issued, and its leases are revoked with the default statements (docs/databases.md). Roles
 * that exist already take their connection's current admin secret.
 */
export async function up(db: Kysely<Database>): Promise<void> {
  await db.schema.alterTable('db_roles').addColumn('admin_secret', 'text').execute();
  await sql`UPDATE db_roles SET admin_secret = (SELECT c.admin_secret FROM db_connections c WHERE c.uid = db_roles.connection_uid)`.execute(
    db,
  );
}
