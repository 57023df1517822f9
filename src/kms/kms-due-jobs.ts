import type { ChangeRecorder } from '../audit/audit-outbox.ts';
import type { Clock } from '../core/clock.ts';
import { type Storage, WriteRejected } from '../storage/storage-types.ts';
import type { KeyRotation } from './key-rotation.ts';
import type { KeyVersionLifecycle } from './key-version-lifecycle.ts';
import { keyChange } from './kms-changes.ts';
import type { KmsRepo } from './kms-repo.ts';
import type { KmsJobEvent } from './kms-types.ts';

/** What the KMS background jobs use. */
export interface KmsDueJobsDeps {
  readonly storage: Storage;
  readonly repo: KmsRepo;
  readonly clock: Clock;
  readonly versions: KeyVersionLifecycle;
  readonly rotation: KeyRotation;
}

/**
 * KMS background work (`KmsService.runDueJobs`), safe on every node at once: rotations that are
 * due, version destructions and key deletions whose window has ended. Each change is a
 * compare-and-set on the key row, so exactly one node applies it; the events of the changes made here.
 */
export async function runKmsDueJobs(
  deps: KmsDueJobsDeps,
  record: ChangeRecorder<KmsJobEvent>,
): Promise<KmsJobEvent[]> {
  const now = deps.clock.nowMs();
  const events: KmsJobEvent[] = [];
  const run = async (event: KmsJobEvent, change: () => Promise<void>) => {
    try {
      await record(event, change);
      events.push(event);
    } catch (err) {
      // Another node made this change first (compare-and-set): nothing was written here.
      if (!(err instanceof WriteRejected)) throw err;
    }
  };
  for (const key of await deps.repo.keysDue('rotation', now, 100)) {
    await run({ action: 'kms.keys.rotate', key, version: key.primaryVersion + 1 }, async () => {
      await deps.rotation.rotate(key, now);
    });
  }
  await deps.versions.runDue(async (key, version, change) => {
    await run({ action: 'kms.key_versions.destroy', key, version }, change);
  });
  for (const key of await deps.repo.keysDue('destruction', now, 100)) {
    await run({ action: 'kms.keys.destroy', key }, async () => {
      await deps.storage.write([
        deps.repo.updateKey(key, { state: 'destroyed', updateTimeMs: now }),
        deps.repo.destroyAllVersions(key.uid, now),
        keyChange(deps.storage.db, 'key.destroyed', key, now),
      ]);
    });
  }
  return events;
}
