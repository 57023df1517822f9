import type { Kysely } from 'kysely';
import { changeActor } from '../audit/change-actor.ts';
import { changeStatement } from '../storage/change-log.ts';
import type { Database } from '../storage/schema.ts';
import type { WriteStatement } from '../storage/storage-types.ts';

/** The change-feed types of database configuration (docs/changes.md). */
export type DatabaseChangeType =
  | 'database.created'
  | 'database.updated'
  | 'database.deleted'
  | 'database.role.put'
  | 'database.role.deleted';

/**
 * A change to a database connection or role, for the change feed (in the change's own unit).
 * `audienceOfOwnPolicy`: the resource's policy goes in the same unit; its members are told.
 */
export function databaseChange(
  db: Kysely<Database>,
  type: DatabaseChangeType,
  resource: string,
  projectId: string,
  nowMs: number,
  audienceOfOwnPolicy = false,
): WriteStatement {
  return changeStatement(db, {
    type,
    resource,
    projectId,
    principal: changeActor('service:secretsmanager'),
    timeMs: nowMs,
    ...(audienceOfOwnPolicy ? { audience: { policyOf: resource } } : {}),
  });
}
