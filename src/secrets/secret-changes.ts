import type { Kysely } from 'kysely';
import { changeActor } from '../audit/change-actor.ts';
import { changeStatement } from '../storage/change-log.ts';
import type { Database } from '../storage/schema.ts';
import type { WriteStatement } from '../storage/storage-types.ts';
import { secretName } from './secret-types.ts';

/** A change to a secret, its versions or stages, for the change feed (in the change's own unit). */
export function secretChange(
  db: Kysely<Database>,
  type: string,
  secret: { projectId: string; regionId: string; instanceId: string; path: string },
  nowMs: number,
  detail: { version?: number; stage?: string } = {},
): WriteStatement {
  return changeStatement(db, {
    type,
    resource: secretName(secret),
    projectId: secret.projectId,
    principal: changeActor('service:secretsmanager'),
    timeMs: nowMs,
    version: detail.version,
    stage: detail.stage,
  });
}

/** A change to an instance, for the change feed (in the change's own unit). */
export function instanceChange(
  db: Kysely<Database>,
  type: string,
  instance: { projectId: string; regionId: string; id: string },
  nowMs: number,
): WriteStatement {
  return changeStatement(db, {
    type,
    resource: `projects/${instance.projectId}/regions/${instance.regionId}/instances/${instance.id}`,
    projectId: instance.projectId,
    principal: changeActor('service:secretsmanager'),
    timeMs: nowMs,
  });
}
