import { hash } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { AuditEventsTable } from '../storage/schema.ts';

/** The hash before a chain's first event. */
export const genesisHash = '0'.repeat(64);

/** An event as stored: the event's fields plus its place in a chain. */
export type ChainedEventRow = Selectable<AuditEventsTable>;

/**
 * The canonical encoding hashed for a record: a JSON array of every stored field in a fixed order
 * (numbers as numbers, absent values as null), then the predecessor's hash, then — only for a record
 * that has them — its companion events' text (docs/decisions/0009-audit-record.md). A record of one
 * event (every row before migration 0020) is encoded exactly as before. Any edit of a stored field,
 * of a companion, or of the order, changes some hash in the chain.
 */
export function canonicalEvent(
  row: Omit<ChainedEventRow, 'hash' | 'companions'> & { companions?: string | null },
): string {
  const values: unknown[] = [
    row.id,
    row.chain_id,
    Number(row.seq),
    Number(row.time),
    row.request_id,
    row.action,
    row.principal,
    row.on_behalf_of,
    row.resource,
    row.project_id,
    row.result,
    Number(row.status),
    row.source_ip,
    row.user_agent,
    row.details,
    row.prev_hash,
  ];
  if (row.companions !== undefined && row.companions !== null) values.push(row.companions);
  return JSON.stringify(values);
}

/** The stored columns in canonical order (see `canonicalEvent`), then the hash. */
export const canonicalColumns = [
  'id',
  'chain_id',
  'seq',
  'time',
  'request_id',
  'action',
  'principal',
  'on_behalf_of',
  'resource',
  'project_id',
  'result',
  'status',
  'source_ip',
  'user_agent',
  'details',
  'prev_hash',
  'hash',
] as const satisfies readonly (keyof ChainedEventRow)[];

/** Every stored column of a record: `canonicalColumns`, then `companions` (null for one event). */
export const storedColumns = [
  ...canonicalColumns,
  'companions',
] as const satisfies readonly (keyof ChainedEventRow)[];

/** SHA-256 (hex) of an event's canonical encoding. */
export function hashEvent(
  row: Omit<ChainedEventRow, 'hash' | 'companions'> & { companions?: string | null },
): string {
  // One-shot hashing: about half the cost of createHash().update().digest() for short inputs.
  return hash('sha256', canonicalEvent(row));
}

/**
 * SHA-256 (hex) of an event given as its canonical values: `canonicalColumns` without the hash, in
 * that order, numbers as numbers and absent values as null, then the companions' text when there
 * are companions. The same hash as `hashEvent` of the row
 * (the same JSON text), without building the row object: the writer's hot path.
 */
export function hashCanonicalValues(values: readonly unknown[]): string {
  return hash('sha256', JSON.stringify(values));
}

/** Kinds of checkpoint: periodic, the writer's last (closing), or the anchor of a retention prune. */
export type CheckpointKind = 'periodic' | 'closing' | 'prune';

/** What a checkpoint before this one is, as its successor (or the head file) names it. */
export interface CheckpointRef {
  readonly chainId: string;
  readonly seq: number;
  readonly kind: string;
  /** SHA-256 (hex) of the referenced checkpoint's signed message (see `checkpointHash`). */
  readonly hash: string;
}

/** The predecessor of a node's first checkpoint. */
export const genesisCheckpoint = 'genesis';

/** Encodes a reference for storage and signing: `chain:seq:kind:hash`, or `genesis`. */
export function encodeCheckpointRef(ref: CheckpointRef | undefined): string {
  return ref ? `${ref.chainId}:${ref.seq}:${ref.kind}:${ref.hash}` : genesisCheckpoint;
}

/** Decodes `encodeCheckpointRef`'s text; undefined for `genesis` or text that is not a reference. */
export function decodeCheckpointRef(text: string): CheckpointRef | undefined {
  const [chainId, seq, kind, hash, extra] = text.split(':');
  if (!chainId || !seq || !kind || !hash || extra !== undefined || !/^\d+$/.test(seq)) return undefined;
  return { chainId, seq: Number(seq), kind, hash };
}

/**
 * The bytes a checkpoint signature covers. A checkpoint written since checkpoints form a chain names
 * its predecessor (`prevCheckpoint`, the v2 message): the node's previous checkpoint, across its
 * restarts, so the newest one commits to every one before it. Older checkpoints (v1) name none.
 */
export function checkpointMessage(
  chainId: string,
  seq: number,
  hash: string,
  timeMs: number,
  kind: string,
  prevCheckpoint?: string | null,
): Buffer {
  if (prevCheckpoint === undefined || prevCheckpoint === null)
    return Buffer.from(`coffer-audit-checkpoint/v1|${chainId}|${seq}|${hash}|${timeMs}|${kind}`);
  return Buffer.from(
    `coffer-audit-checkpoint/v2|${chainId}|${seq}|${hash}|${timeMs}|${kind}|${prevCheckpoint}`,
  );
}

/** The message a stored checkpoint's signature covers: `checkpointMessage` of its fields. */
export function checkpointMessageOf(checkpoint: Omit<SignedCheckpoint, 'signature'>): Buffer {
  return checkpointMessage(
    checkpoint.chainId,
    checkpoint.seq,
    checkpoint.hash,
    checkpoint.timeMs,
    checkpoint.kind,
    checkpoint.prevCheckpoint,
  );
}

/** A checkpoint as stored, signed, and delivered. */
export interface SignedCheckpoint {
  readonly chainId: string;
  readonly seq: number;
  /** The hash of the event at `seq`. */
  readonly hash: string;
  readonly timeMs: number;
  readonly kind: CheckpointKind;
  /** The predecessor (`encodeCheckpointRef`), or null for a v1 checkpoint. */
  readonly prevCheckpoint: string | null;
  /** Ed25519 signature (base64) of `checkpointMessage`. */
  readonly signature: string;
}

/** The reference by which a successor names `checkpoint`: its place and the hash of its message. */
export function checkpointRef(checkpoint: Omit<SignedCheckpoint, 'signature'>): CheckpointRef {
  const message = checkpointMessageOf(checkpoint);
  return {
    chainId: checkpoint.chainId,
    seq: checkpoint.seq,
    kind: checkpoint.kind,
    hash: hash('sha256', message),
  };
}
