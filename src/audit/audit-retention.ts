import type { Storage, WriteStatement } from '../storage/storage-types.ts';
import { stmt } from '../storage/storage-types.ts';
import type { CheckpointKind } from './audit-chain.ts';

/** Signs a checkpoint (the audit log's key); undefined while sealed. */
export type CheckpointSigner = (
  chainId: string,
  seq: number,
  hash: string,
  timeMs: number,
  kind: CheckpointKind,
) => string | undefined;

/**
 * Retention: removes events older than `cutoffMs`, chain by chain, but only up to a signed
 * checkpoint whose time is before the cutoff, and leaves a signed `prune` marker there: the marker
 * anchors the first remaining event (its prev_hash), so the rest of the chain stays verifiable, and
 * a deletion not made by retention (no marker) is still detected. Returns the events removed.
 */
export async function pruneAuditEvents(
  storage: Storage,
  sign: CheckpointSigner,
  cutoffMs: number,
  nowMs: number,
): Promise<number> {
  const db = storage.db;
  const chains = await db.selectFrom('audit_chains').select('chain_id').execute();
  let removed = 0;
  for (const { chain_id: chainId } of chains) {
    const anchor = await db
      .selectFrom('audit_checkpoints')
      .select(['seq', 'hash'])
      .where('chain_id', '=', chainId)
      .where('kind', '!=', 'prune')
      .where('time', '<', cutoffMs)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!anchor) continue;
    const seq = Number(anchor.seq);
    const already = await db
      .selectFrom('audit_checkpoints')
      .select('seq')
      .where('chain_id', '=', chainId)
      .where('kind', '=', 'prune')
      .where('seq', '>=', seq)
      .executeTakeFirst();
    if (already) continue;
    const signature = sign(chainId, seq, anchor.hash, nowMs, 'prune');
    if (!signature) return removed;
    const count = await db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('chain_id', '=', chainId)
      .where('seq', '<=', seq)
      .executeTakeFirst();
    const statements: WriteStatement[] = [
      stmt(
        db
          .insertInto('audit_checkpoints')
          .values({ chain_id: chainId, seq, hash: anchor.hash, time: nowMs, kind: 'prune', signature }),
      ),
      // The companions' query keys go with their records (docs/decisions/0009-audit-record.md): an
      // entry lists one group commit's records, named by its first, and a checkpoint (the prune
      // anchor) always ends a group commit, so no entry lists records on both sides of it.
      stmt(
        db
          .deleteFrom('audit_terms')
          .where('record_id', 'in', (eb) =>
            eb
              .selectFrom('audit_events')
              .select('id')
              .where('chain_id', '=', chainId)
              .where('seq', '<=', seq)
              .where('companions', 'is not', null),
          ),
      ),
      stmt(db.deleteFrom('audit_events').where('chain_id', '=', chainId).where('seq', '<=', seq)),
      stmt(db.deleteFrom('audit_checkpoints').where('chain_id', '=', chainId).where('seq', '<', seq)),
    ];
    await storage.write(statements);
    removed += Number(count?.n ?? 0);
  }
  return removed;
}
