import type { Kysely } from 'kysely';
import { changeActor } from '../audit/change-actor.ts';
import { changeStatement } from '../storage/change-log.ts';
import type { Database } from '../storage/schema.ts';
import type { WriteStatement } from '../storage/storage-types.ts';
import type { KeyAction } from './kms-fns.ts';
import { keyResourceName, type CryptoKey } from './kms-types.ts';

/** A KMS key or key-version change for the change feed (docs/changes.md), for the change's own unit. */
export function keyChange(
  db: Kysely<Database>,
  type: string,
  key: CryptoKey,
  nowMs: number,
  version?: number,
): WriteStatement {
  return changeStatement(db, {
    type,
    resource: keyResourceName(key),
    projectId: key.projectId,
    principal: changeActor('service:kms'),
    timeMs: nowMs,
    version,
  });
}

/** The change-feed type of each key action. */
export const keyChangeTypes: Record<Exclude<KeyAction, 'rotate'>, string> = {
  enable: 'key.enabled',
  disable: 'key.disabled',
  schedule_deletion: 'key.deletion_scheduled',
  cancel_deletion: 'key.deletion_canceled',
};
