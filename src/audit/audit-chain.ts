import { hash } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { AuditEventsTable } from '../storage/schema.ts';

/** The hash before a chain's first event. */
export const genesisHash = '0'.repeat(64);

/** An event as stored: the event's fields plus its place in a chain. */
export type ChainedEventRow = Selectable<AuditEventsTable>;

/**
 * The canonical encoding hashed for an event: a JSON array of every stored field in a fixed order
 * (numbers as numbers, absent values as null), then the predecessor's hash. Any edit of a stored
 * field, or of the order, changes some hash in the chain.
 */
export function canonicalEvent(row: Omit<ChainedEventRow, 'hash'>): string {
  return JSON.stringify([
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
  ]);
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

/** SHA-256 (hex) of an event's canonical encoding. */
export function hashEvent(row: Omit<ChainedEventRow, 'hash'>): string {
  // One-shot hashing: about half the cost of createHash().update().digest() for short inputs.
  return hash('sha256', canonicalEvent(row));
}

/** Kinds of checkpoint: periodic, the writer's last (closing), or the anchor of a retention prune. */
export type CheckpointKind = 'periodic' | 'closing' | 'prune';

/** The bytes a checkpoint signature covers. */
export function checkpointMessage(
  chainId: string,
  seq: number,
  hash: string,
  timeMs: number,
  kind: string,
): Buffer {
  return Buffer.from(`coffer-audit-checkpoint/v1|${chainId}|${seq}|${hash}|${timeMs}|${kind}`);
}
