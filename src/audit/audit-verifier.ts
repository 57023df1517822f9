import { hash, type KeyObject, verify } from 'node:crypto';
import type { Storage } from '../storage/storage-types.ts';
import {
  canonicalEvent,
  type ChainedEventRow,
  type CheckpointKind,
  type CheckpointRef,
  checkpointMessageOf,
  checkpointRef,
  decodeCheckpointRef,
  genesisCheckpoint,
  genesisHash,
  type SignedCheckpoint,
  storedColumns,
} from './audit-chain.ts';
import { readAuditHead } from './audit-head-file.ts';
import type { WriterHead } from './audit-log.ts';
import { storedCompanions } from './audit-record.ts';
import { checkStoredTerms, recordTerms, tallyTerms, TermTally } from './audit-terms-check.ts';

/** One thing found wrong, machine-readable. */
export interface AuditProblem {
  /** The chain concerned, when one is. */
  readonly chain?: string;
  /**
   * `truncated`: the chain ends before a position that its head (`audit_chains`), a checkpoint, a
   * later checkpoint or the node's head file says it reached; `gap`: a position inside the chain is
   * missing; `altered`: an event was edited or moved; `bad_signature`: a checkpoint's signature does
   * not hold; `checkpoint_missing`: a checkpoint that a later one (or the head file) names is gone
   * or differs; `chain_missing`: a chain that checkpoints name has no events; `head_unreadable`: the
   * node's head file is not a signed head; `terms_missing`: companions' query keys (`audit_terms`)
   * were removed, edited, moved to another record or doubled, so a query could miss a recorded
   * event (the records themselves verify).
   */
  readonly kind:
    | 'truncated'
    | 'gap'
    | 'altered'
    | 'bad_signature'
    | 'checkpoint_missing'
    | 'chain_missing'
    | 'head_unreadable'
    | 'terms_missing';
  /** The first position missing (`truncated`, `gap`). */
  readonly firstMissingSeq?: number;
  /** The checkpoint or event position concerned (`checkpoint_missing`, `bad_signature`, `altered`). */
  readonly seq?: number;
}

/** The outcome of a verification. */
export interface VerifyResult {
  /** True when every chain is intact and every checkpoint signature holds. */
  readonly valid: boolean;
  /** Events checked (a record's companions included). */
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
  /** Why verification failed, in words (the first problem). */
  readonly reason?: string;
  /** Everything found wrong (empty when valid). */
  readonly problems: readonly AuditProblem[];
}

/** Where to find the verifying node's own signed head (its head file). */
export interface VerifyOptions {
  readonly headFile?: string;
  /**
   * The verifying node's writer, as it knows itself from memory (taken before verification reads
   * storage): its chain must reach the last position made durable, unsigned events included.
   */
  readonly writer?: WriterHead;
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
  /** The query keys its companions need in `audit_terms` (`recordTerms`; empty for one event). */
  readonly terms: readonly unknown[];
  /** Events in the record: 1 and its companions. */
  readonly events: number;
}

/**
 * Every event ordered by chain and position. On SQLite, rows come as arrays straight from the
 * statement (no objects, no query re-planning): the array minus its hash is the canonical encoding.
 * Elsewhere, keyset-paginated batches.
 */
async function* eventsInChainOrder(storage: Storage): AsyncGenerator<ScannedEvent> {
  const base = storage.db.selectFrom('audit_events').select(storedColumns).orderBy('chain_id').orderBy('seq');
  if (storage.iterateRows) {
    for (const row of storage.iterateRows(base)) {
      const companions = row.pop() as string | null;
      const stored = row.pop() as string;
      let shape: { terms: readonly unknown[]; events: number } = single;
      if (companions !== null) {
        row.push(companions);
        shape = shapeOf({
          id: row[0],
          project_id: row[9],
          action: row[5],
          principal: row[6],
          resource: row[8],
          time: row[3],
          companions,
        } as ChainedEventRow);
      }
      yield {
        id: row[0] as string,
        chainId: row[1] as string,
        seq: Number(row[2]),
        prevHash: row[15] as string,
        hash: stored,
        canonical: JSON.stringify(row),
        ...shape,
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
        ...(row.companions === null ? single : shapeOf(row)),
      };
    }
    const last = rows[rows.length - 1]!;
    after = { chain: last.chain_id, seq: Number(last.seq) };
  }
}

const single = { terms: [] as readonly unknown[], events: 1 } as const;

/** A record's events and the term entries its companions need (unreadable text: 1 and 0; its hash tells). */
function shapeOf(row: ChainedEventRow): { terms: readonly unknown[]; events: number } {
  try {
    return { terms: recordTerms(row), events: 1 + storedCompanions(row).length };
  } catch {
    return single;
  }
}

/**
 * Checks every chain: sequence numbers without gaps from 1 (or from a signed prune marker), each
 * event's `prev_hash` equal to its predecessor's hash, each hash recomputed from the stored fields,
 * every checkpoint signed by the audit key and equal to the event hash at its position. Then the
 * chain's length: no chain may end before its recorded head (`audit_chains.head_seq`), before one of
 * its checkpoints, before the checkpoint that a later checkpoint names (checkpoints form a chain
 * across a node's restarts), or before the head this node keeps in its head file. A truncation is
 * reported with the first missing position. Events after the newest checkpoint that a node wrote
 * before it crashed remain unsigned (`unsigned`).
 */
export async function verifyAuditChains(
  storage: Storage,
  publicKey: KeyObject | undefined,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const db = storage.db;
  // Heads first: anything written while the events are read only lengthens the chains.
  const head = options.headFile ? readAuditHead(options.headFile) : undefined;
  // Positions the node left unsigned when it stopped sealed: the chain must reach them, unchanged.
  const tails = new Map<string, string>();
  if (head?.state === 'ok')
    for (const tail of head.unsignedTails) tails.set(`${tail.chainId}#${tail.seq}`, tail.hash);
  const heads = await db.selectFrom('audit_chains').select(['chain_id', 'head_seq']).execute();
  const headed = new Set(heads.map((h) => h.chain_id));
  const rows = await db.selectFrom('audit_checkpoints').selectAll().execute();
  const checkpoints: SignedCheckpoint[] = rows.map((row) => ({
    chainId: row.chain_id,
    seq: Number(row.seq),
    hash: row.hash,
    timeMs: Number(row.time),
    kind: row.kind as CheckpointKind,
    prevCheckpoint: row.prev_checkpoint,
    signature: row.signature,
  }));
  const signed = (checkpoint: SignedCheckpoint) =>
    publicKey !== undefined &&
    verify(null, checkpointMessageOf(checkpoint), publicKey, Buffer.from(checkpoint.signature, 'base64'));
  const byChain = new Map<string, Map<number, string>>();
  const anchors = new Map<string, { seq: number; hash: string }>();
  const refs = new Map<string, string>();
  for (const checkpoint of checkpoints) {
    if (!signed(checkpoint)) {
      const problem = { chain: checkpoint.chainId, kind: 'bad_signature', seq: checkpoint.seq } as const;
      return failed(
        0,
        0,
        0,
        [problem],
        `checkpoint ${checkpoint.chainId}#${checkpoint.seq} has a bad signature`,
      );
    }
    const chain = byChain.get(checkpoint.chainId) ?? new Map<number, string>();
    chain.set(checkpoint.seq, checkpoint.hash);
    byChain.set(checkpoint.chainId, chain);
    const ref = checkpointRef(checkpoint);
    refs.set(refKey(ref), ref.hash);
    // A signed prune marker anchors what remains after retention removed the events up to it.
    const anchor = anchors.get(checkpoint.chainId);
    if (checkpoint.kind === 'prune' && (!anchor || anchor.seq < checkpoint.seq)) {
      anchors.set(checkpoint.chainId, { seq: checkpoint.seq, hash: checkpoint.hash });
    }
  }
  let checked = 0;
  const terms = new TermTally();
  let chains = 0;
  let currentChain: string | undefined;
  let expectedSeq = 1;
  let prevHash = genesisHash;
  /** The last position each chain reaches (its newest event, or its prune marker). */
  const reached = new Map<string, number>();
  for await (const row of eventsInChainOrder(storage)) {
    const seq = row.seq;
    if (row.chainId !== currentChain) {
      if (currentChain !== undefined) reached.set(currentChain, expectedSeq - 1);
      currentChain = row.chainId;
      chains += 1;
      const anchor = anchors.get(currentChain);
      expectedSeq = anchor ? anchor.seq + 1 : 1;
      prevHash = anchor ? anchor.hash : genesisHash;
    }
    const fail = (problem: AuditProblem, reason: string): VerifyResult => ({
      ...failed(checked, chains, 0, [problem], reason),
      firstBrokenEventId: row.id,
    });
    if (seq > expectedSeq)
      return fail(
        { chain: row.chainId, kind: 'gap', firstMissingSeq: expectedSeq },
        `event ${row.id} is #${seq} of chain ${row.chainId}, expected #${expectedSeq}`,
      );
    if (seq !== expectedSeq)
      return fail(
        { chain: row.chainId, kind: 'altered', seq },
        `event ${row.id} is #${seq} of chain ${row.chainId}, expected #${expectedSeq}`,
      );
    if (row.prevHash !== prevHash)
      return fail(
        { chain: row.chainId, kind: 'altered', seq },
        `event ${row.id} does not follow its predecessor`,
      );
    if (hash('sha256', row.canonical) !== row.hash)
      return fail({ chain: row.chainId, kind: 'altered', seq }, `event ${row.id} was altered`);
    const mark = byChain.get(row.chainId)?.get(seq);
    if (mark !== undefined && mark !== row.hash)
      return fail(
        { chain: row.chainId, kind: 'altered', seq },
        `event ${row.id} differs from the signed checkpoint`,
      );
    const tail = tails.get(`${row.chainId}#${seq}`);
    if (tail !== undefined && tail !== row.hash)
      return fail(
        { chain: row.chainId, kind: 'altered', seq },
        `event ${row.id} differs from the position this node's head file kept`,
      );
    checked += row.events;
    tallyTerms(terms, row.terms);
    expectedSeq = seq + 1;
    prevHash = row.hash;
  }
  if (currentChain !== undefined) reached.set(currentChain, expectedSeq - 1);
  for (const [chainId, anchor] of anchors)
    if ((reached.get(chainId) ?? 0) < anchor.seq) reached.set(chainId, anchor.seq);

  const problems = new Map<string, { problem: AuditProblem; reason: string }>();
  const report = (problem: AuditProblem, reason: string) => {
    const key = JSON.stringify(problem);
    if (!problems.has(key)) problems.set(key, { problem, reason });
  };
  /** A position the chain must reach: if it does not, it was cut back (or is missing altogether). */
  const mustReach = (chainId: string, seq: number, why: string) => {
    const last = reached.get(chainId);
    if (last === undefined && seq > 0 && !byChain.has(chainId) && !headed.has(chainId)) {
      report({ chain: chainId, kind: 'chain_missing' }, `chain ${chainId} is missing (${why})`);
    } else if ((last ?? 0) < seq) {
      const first = (last ?? 0) + 1;
      report(
        { chain: chainId, kind: 'truncated', firstMissingSeq: first },
        `chain ${chainId} was cut back: events from #${first} are missing (${why} says it reached #${seq})`,
      );
    }
  };
  for (const row of heads) mustReach(row.chain_id, Number(row.head_seq), 'its recorded head');
  for (const [chainId, marks] of byChain) {
    const anchor = anchors.get(chainId);
    const newest = largest(marks.keys());
    if (!reached.has(chainId) && !headed.has(chainId)) {
      // A chain whose every event was pruned is whole if no checkpoint lies beyond its prune marker.
      if (!anchor || newest > anchor.seq)
        report({ chain: chainId, kind: 'chain_missing' }, `chain ${chainId} is missing`);
      continue;
    }
    mustReach(chainId, newest, 'a signed checkpoint');
  }
  /** A checkpoint that a later one (or the head file) names must be there, unchanged. */
  const mustExist = (ref: CheckpointRef, why: string) => {
    if (refs.get(refKey(ref)) === ref.hash) return;
    mustReach(ref.chainId, ref.seq, why);
    const last = reached.get(ref.chainId) ?? 0;
    if (last >= ref.seq)
      report(
        { chain: ref.chainId, kind: 'checkpoint_missing', seq: ref.seq },
        `the checkpoint at ${ref.chainId}#${ref.seq} that ${why} names is missing or was replaced`,
      );
  };
  for (const checkpoint of checkpoints) {
    if (checkpoint.kind === 'prune' || checkpoint.prevCheckpoint === null) continue;
    if (checkpoint.prevCheckpoint === genesisCheckpoint) continue;
    const prev = decodeCheckpointRef(checkpoint.prevCheckpoint);
    // The oldest checkpoint left by retention names one that retention removed on purpose.
    if (!prev || anchors.get(checkpoint.chainId)?.seq === checkpoint.seq) continue;
    mustExist(prev, `checkpoint ${checkpoint.chainId}#${checkpoint.seq}`);
  }
  if (head?.state === 'unreadable') {
    report({ kind: 'head_unreadable' }, `the audit head file cannot be used (${head.reason})`);
  } else if (head?.state === 'ok') {
    if (!signed(head.checkpoint))
      report({ kind: 'head_unreadable' }, 'the audit head file is not signed by the audit key');
    else mustExist(checkpointRef(head.checkpoint), "this node's head file");
    for (const tail of head.unsignedTails)
      mustReach(tail.chainId, tail.seq, "this node's head file (events left unsigned while sealed)");
  }
  // The companions' query keys (audit-terms-check.ts): each verified record's keys listed exactly
  // once, for it; records written after their chain was scanned are left out on both sides.
  const termsDiffer = await checkStoredTerms(db, terms, (chainId, seq) => seq <= (reached.get(chainId) ?? 0));
  if (termsDiffer !== undefined) report({ kind: 'terms_missing' }, termsDiffer);
  const writer = options.writer;
  if (writer && writer.seq > 0) mustReach(writer.chainId, writer.seq, "this node's writer");
  if (writer?.lastCheckpoint) mustExist(checkpointRef(writer.lastCheckpoint), "this node's writer");
  let unsigned = 0;
  for (const [chainId, last] of reached) {
    const signedUpTo = largest(byChain.get(chainId)?.keys() ?? []);
    unsigned += Math.max(0, last - signedUpTo);
  }
  const found = [...problems.values()];
  if (found.length > 0)
    return failed(
      checked,
      chains,
      unsigned,
      found.map((f) => f.problem),
      found.map((f) => f.reason).join('; '),
    );
  return { valid: true, checked, chains, unsigned, problems: [] };
}

/** The largest of `values`, or 0 (a loop: a long-running node has too many checkpoints to spread). */
function largest(values: Iterable<number>): number {
  let max = 0;
  for (const value of values) if (value > max) max = value;
  return max;
}

function refKey(ref: { chainId: string; seq: number; kind: string }): string {
  return `${ref.chainId}:${ref.seq}:${ref.kind}`;
}

function failed(
  checked: number,
  chains: number,
  unsigned: number,
  problems: readonly AuditProblem[],
  reason: string,
): VerifyResult {
  return { valid: false, checked, chains, unsigned, problems, reason };
}
