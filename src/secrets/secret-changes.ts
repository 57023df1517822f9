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
  detail: { version?: number; stage?: string; audienceOfOwnPolicy?: true } = {},
): WriteStatement {
  const resource = secretName(secret);
  return changeStatement(db, {
    type,
    resource,
    projectId: secret.projectId,
    principal: changeActor('service:secretsmanager'),
    timeMs: nowMs,
    version: detail.version,
    stage: detail.stage,
    ...(detail.audienceOfOwnPolicy ? { audience: { policyOf: resource } } : {}),
  });
}

/** A change to an instance, for the change feed (in the change's own unit). */
export function instanceChange(
  db: Kysely<Database>,
  type: string,
  instance: { projectId: string; regionId: string; id: string },
  nowMs: number,
  audienceOfOwnPolicy = false,
): WriteStatement {
  const resource = `projects/${instance.projectId}/regions/${instance.regionId}/instances/${instance.id}`;
  return changeStatement(db, {
    type,
    resource,
    projectId: instance.projectId,
    principal: changeActor('service:secretsmanager'),
    timeMs: nowMs,
    ...(audienceOfOwnPolicy ? { audience: { policyOf: resource } } : {}),
  });
}
