import { Barrier } from '../barrier/barrier.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config-schema.ts';
import type { Logger } from '../core/logger.ts';
import type { Storage } from '../storage/storage-types.ts';
import { loadSealRecord, SealStartError, startFileSeal } from './initialize.ts';

/**
 * The seal at start-up. File seal: unsealed from its key file; a store nobody initialized yet is
 * initialized now, or, with `deferFirstInit`, left for `openFileSeal` once the listener is up (so a
 * start that fails to listen leaves no initialized store, key file or token file behind). Shamir:
 * loaded sealed, waiting for init or unseal.
 */
export async function startBarrier(
  config: Config,
  storage: Storage,
  clock: Clock,
  logger: Logger,
  deferFirstInit: boolean,
): Promise<Barrier> {
  if (config.seal === 'file') {
    const barrier = new Barrier('file', undefined);
    if (deferFirstInit && !(await loadSealRecord(storage.db))) return barrier;
    await openFileSeal(barrier, config, storage, clock, logger);
    return barrier;
  }
  const record = await loadSealRecord(storage.db);
  if (record && record.type !== 'shamir') {
    throw new SealStartError(`the data was initialized with the ${record.type} seal, not shamir`);
  }
  if (!record) logger.warn('not initialized: POST /v2/sys/init (coffer operator init) to initialize');
  else logger.warn('sealed: POST /v2/sys/unseal (coffer operator unseal) with the threshold of shares');
  return new Barrier('shamir', record);
}

/** File seal: initializes if nobody has (key file, root token), then unseals the barrier. */
export async function openFileSeal(
  barrier: Barrier,
  config: Config,
  storage: Storage,
  clock: Clock,
  logger: Logger,
): Promise<void> {
  const { record, unsealKey } = await startFileSeal(storage, config.dataDir, clock.nowMs(), logger);
  barrier.setRecord(record);
  const opened = barrier.unsealWithKey(unsealKey);
  unsealKey.fill(0);
  if (!opened)
    throw new SealStartError(
      'the seal key file does not open the stored root key (wrong or corrupted key file)',
    );
}
