import type { AuditLog } from '../audit/audit-log.ts';
import type { Barrier } from '../barrier/barrier.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config-schema.ts';
import type { Logger } from '../core/logger.ts';
import type { CacheInvalidation } from '../storage/cache-invalidation.ts';
import type { Storage } from '../storage/storage-types.ts';
import type { App } from './app-types.ts';
import { initializeShamir, loadSealRecord } from './initialize.ts';
import { openFileSeal } from './start-seal.ts';

/** The node's seal operations as `App` has them. */
export type SealControls = Pick<App, 'seal' | 'finishStart' | 'initialize' | 'unseal' | 'sealStatus'>;

/**
 * Sealing, initializing and unsealing a node (`App.seal`, `finishStart`, `initialize`, `unseal`,
 * `sealStatus`); `onUnsealed` runs each time the node becomes unsealed (the audit signing key).
 */
export function sealControls(deps: {
  config: Config;
  storage: Storage;
  barrier: Barrier;
  audit: AuditLog;
  cacheInvalidation: CacheInvalidation;
  clock: Clock;
  logger: Logger;
  onUnsealed: () => Promise<void>;
}): SealControls {
  const { config, storage, barrier, audit, cacheInvalidation, clock, logger, onUnsealed } = deps;
  return {
    async seal() {
      try {
        // Signed before the key goes: otherwise the last events would stay unsigned, cuttable unseen.
        // Bounded by the audit timeout; the keys go whatever it does (sealing is never refused).
        await audit.signHead();
      } finally {
        audit.setSigningKey(undefined);
        barrier.seal();
        // Drops every cached key, version and KeyObject (kms-metadata-cache.ts).
        cacheInvalidation.invalidate('all');
      }
    },
    async finishStart() {
      if (config.seal !== 'file' || !barrier.sealed) return;
      await openFileSeal(barrier, config, storage, clock, logger);
      await onUnsealed();
    },
    async initialize(secretShares, secretThreshold) {
      const result = await initializeShamir(
        storage,
        config.seal,
        secretShares,
        secretThreshold,
        clock.nowMs(),
      );
      barrier.setRecord(result.record);
      logger.warn('initialized with the shamir seal; the node stays sealed until unsealed');
      return { keys: result.shares, rootToken: result.adminToken };
    },
    async unseal(share, reset, nonce, source) {
      if (!barrier.initialized) {
        const record = await loadSealRecord(storage.db);
        if (record) barrier.setRecord(record);
      }
      if (reset) barrier.resetProgress(nonce, clock.nowMs());
      if (share === undefined) return barrier.status(reset ? undefined : nonce);
      const status = await barrier.submitShare(share, reset ? undefined : nonce, source, clock.nowMs());
      if (!status.sealed) await onUnsealed();
      if (!status.sealed) logger.info('unsealed');
      return status;
    },
    async sealStatus(nonce) {
      if (!barrier.initialized) {
        const record = await loadSealRecord(storage.db);
        if (record) barrier.setRecord(record);
      }
      return barrier.status(nonce);
    },
  };
}
