import { hash, type KeyObject, verify } from 'node:crypto';
import type { Storage } from '../storage/storage-types.ts';
import {
  canonicalColumns,
  canonicalEvent,
  type ChainedEventRow,
  checkpointMessage,
  genesisHash,
} from './audit-chain.ts';

/** The outcome of a verification. */
export interface VerifyResult {
  /** True when every chain is intact and every checkpoint signature holds. */
  readonly valid: boolean;
  /** Events checked. */
  readonly checked: number;
  /** Chains checked. */
  readonly chains: number;
  /**
   * Events after the last signed checkpoint of their chain: intact as far as hashes go, but not yet
   * (or, for a writer that crashed, never) covered by a signature, so their truncation or a chain
   * forged from scratch would not be detected. Normally under one checkpoint interval's worth.
   */
  readonly unsigned: number;
  /** The first event found broken (edited, out of order, or after a gap), when one is. */
  readonly firstBrokenEventId?: string;
  /** Why verification failed, in words. */
  readonly reason?: string;
}

const batchSize = 10_000;

/** What the verifier needs of a stored event: its place, its hashes, and its canonical encoding. */
interface ScannedEvent {
  readonly id: string;
  readonly chainId: string;
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
  readonly canonical: string;
}

/**
 * Every event ordered by chain and position. On SQLite, rows come as arrays straight from the
 * statement (no objects, no query re-planning): the array minus its hash is the canonical encoding.
 * Elsewhere, keyset-paginated batches.
 */
async function* eventsInChainOrder(storage: Storage): AsyncGenerator<ScannedEvent> {
  const base = storage.db
    .selectFrom('audit_events')
    .select(canonicalColumns)
    .orderBy('chain_id')
    .orderBy('seq');
  if (storage.iterateRows) {
    for (const row of storage.iterateRows(base)) {
      const stored = row.pop() as string;
      yield {
        id: row[0] as string,
        chainId: row[1] as string,
        seq: Number(row[2]),
        prevHash: row[15] as string,
        hash: stored,
        canonical: JSON.stringify(row),
      };
    }
    return;
  }
  let after: { chain: string; seq: number } | undefined;
  for (;;) {
    let query = base.limit(batchSize);
    if (after) {
      const { chain, seq } = after;
      query = query.where((eb) =>
        eb.or([eb('chain_id', '>', chain), eb.and([eb('chain_id', '=', chain), eb('seq', '>', seq)])]),
      );
    }
    const rows = (await query.execute()) as ChainedEventRow[];
    if (rows.length === 0) return;
    for (const row of rows) {
      yield {
        id: row.id,
        chainId: row.chain_id,
        seq: Number(row.seq),
        prevHash: row.prev_hash,
        hash: row.hash,
        canonical: canonicalEvent(row),
      };
    }
    const last = rows[rows.length - 1]!;
    after = { chain: last.chain_id, seq: Number(last.seq) };
  }
}

/**
 * Checks every chain: sequence numbers without gaps from 1, each event's `prev_hash` equal to its
 * predecessor's hash, each hash recomputed from the stored fields, and every checkpoint signed by the
 * audit key and equal to the event hash at its position. Editing, deleting or reordering a stored
 * event is found; so is a deleted chain that a checkpoint still names. Events written after a
 * chain's last checkpoint can be truncated undetected (at most the checkpoint interval's worth).
 */
export async function verifyAuditChains(
  storage: Storage,
  publicKey: KeyObject | undefined,
): Promise<VerifyResult> {
  const db = storage.db;
  const checkpoints = await db.selectFrom('audit_checkpoints').selectAll().execute();
  const byChain = new Map<string, Map<number, string>>();
  const anchors = new Map<string, { seq: number; hash: string }>();
  for (const checkpoint of checkpoints) {
    const seq = Number(checkpoint.seq);
    const message = checkpointMessage(
      checkpoint.chain_id,
      seq,
      checkpoint.hash,
      Number(checkpoint.time),
      checkpoint.kind,
    );
    if (!publicKey || !verify(null, message, publicKey, Buffer.from(checkpoint.signature, 'base64'))) {
      return {
        valid: false,
        checked: 0,
        chains: 0,
        unsigned: 0,
        reason: `checkpoint ${checkpoint.chain_id}#${seq} has a bad signature`,
      };
    }
    const chain = byChain.get(checkpoint.chain_id) ?? new Map<number, string>();
    chain.set(seq, checkpoint.hash);
    byChain.set(checkpoint.chain_id, chain);
    // A signed prune marker anchors what remains after retention removed the events up to it.
    const anchor = anchors.get(checkpoint.chain_id);
    if (checkpoint.kind === 'prune' && (!anchor || anchor.seq < seq)) {
      anchors.set(checkpoint.chain_id, { seq, hash: checkpoint.hash });
    }
  }
  let checked = 0;
  let chains = 0;
  let currentChain: string | undefined;
  let expectedSeq = 1;
  let prevHash = genesisHash;
  let lastSeq = 0;
  const seenChains = new Set<string>();
  let unsigned = 0;
  const endOfChain = (chainId: string): VerifyResult | undefined => {
    const signedUpTo = Math.max(0, ...(byChain.get(chainId)?.keys() ?? []));
    unsigned += Math.max(0, lastSeq - signedUpTo);
    const marks = byChain.get(chainId);
    if (marks)
      for (const seq of marks.keys())
        if (seq > lastSeq)
          return {
            valid: false,
            checked,
            chains,
            unsigned,
            reason: `chain ${chainId} lost events up to ${seq}`,
          };
    return undefined;
  };
  for await (const row of eventsInChainOrder(storage)) {
    const seq = row.seq;
    if (row.chainId !== currentChain) {
      if (currentChain !== undefined) {
        const broken = endOfChain(currentChain);
        if (broken) return broken;
      }
      currentChain = row.chainId;
      seenChains.add(currentChain);
      chains += 1;
      const anchor = anchors.get(currentChain);
      expectedSeq = anchor ? anchor.seq + 1 : 1;
      prevHash = anchor ? anchor.hash : genesisHash;
    }
    const fail = (reason: string): VerifyResult => ({
      valid: false,
      checked,
      chains,
      unsigned,
      firstBrokenEventId: row.id,
      reason,
    });
    if (seq !== expectedSeq)
      return fail(`event ${row.id} is #${seq} of chain ${row.chainId}, expected #${expectedSeq}`);
    if (row.prevHash !== prevHash) return fail(`event ${row.id} does not follow its predecessor`);
    if (hash('sha256', row.canonical) !== row.hash) return fail(`event ${row.id} was altered`);
    const mark = byChain.get(row.chainId)?.get(seq);
    if (mark !== undefined && mark !== row.hash)
      return fail(`event ${row.id} differs from the signed checkpoint`);
    checked += 1;
    expectedSeq = seq + 1;
    prevHash = row.hash;
    lastSeq = seq;
  }
  if (currentChain !== undefined) {
    const broken = endOfChain(currentChain);
    if (broken) return broken;
  }
  for (const [chainId, marks] of byChain) {
    if (seenChains.has(chainId)) continue;
    const anchor = anchors.get(chainId);
    // A chain whose every event was pruned is whole if no checkpoint lies beyond its prune marker.
    if (!anchor || [...marks.keys()].some((seq) => seq > anchor.seq)) {
      return { valid: false, checked, chains, unsigned, reason: `chain ${chainId} is missing` };
    }
  }
  return { valid: true, checked, chains, unsigned };
}
