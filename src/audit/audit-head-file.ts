import { closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CheckpointKind, SignedCheckpoint } from './audit-chain.ts';

/**
 * A chain position this node's writer held durable when it stopped but could not sign (it was
 * sealed): verification requires the chain to reach it with this hash, and the next writer that
 * holds the key signs it as that chain's closing checkpoint.
 */
export interface UnsignedTail {
  readonly chainId: string;
  readonly seq: number;
  readonly hash: string;
}

/** The file, in a node's data dir, that keeps the newest checkpoint this node signed. */
export const auditHeadFileName = 'audit-head.json';

const format = 'coffer-audit-head/v1';

/** Where a node keeps its signed audit head: next to its data, outside the database it protects. */
export function auditHeadPath(dataDir: string): string {
  return join(dataDir, auditHeadFileName);
}

/**
 * Replaces the head file with `checkpoint`, atomically: a temporary file is written and fsynced, then
 * renamed over the old one and the directory fsynced, so a crash leaves the old head or the new one.
 */
export async function writeAuditHead(
  path: string,
  checkpoint: SignedCheckpoint,
  unsignedTails: readonly UnsignedTail[] = [],
): Promise<void> {
  const tails = unsignedTails.length > 0 ? { unsignedTails } : {};
  const text = `${JSON.stringify({ format, ...checkpoint, ...tails })}\n`;
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  const file = await open(temporary, 'w', 0o600);
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  }
}

/** The outcome of reading a head file. */
export type HeadFileRead =
  | { readonly state: 'absent' }
  | { readonly state: 'unreadable'; readonly reason: string }
  | {
      readonly state: 'ok';
      readonly checkpoint: SignedCheckpoint;
      readonly unsignedTails: readonly UnsignedTail[];
    };

/** Reads the head file (absent before this node's first checkpoint). */
export function readAuditHead(path: string): HeadFileRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'absent' };
    return { state: 'unreadable', reason: (err as NodeJS.ErrnoException).code ?? 'read failed' };
  }
  try {
    const value = JSON.parse(text) as Record<string, unknown>;
    const kinds: readonly string[] = ['periodic', 'closing', 'prune'];
    if (
      value.format !== format ||
      typeof value.chainId !== 'string' ||
      typeof value.seq !== 'number' ||
      typeof value.hash !== 'string' ||
      typeof value.timeMs !== 'number' ||
      typeof value.kind !== 'string' ||
      !kinds.includes(value.kind) ||
      (typeof value.prevCheckpoint !== 'string' && value.prevCheckpoint !== null) ||
      typeof value.signature !== 'string'
    )
      return { state: 'unreadable', reason: 'not a Coffer audit head' };
    const tails = value.unsignedTails ?? [];
    if (!Array.isArray(tails) || !tails.every(isTail))
      return { state: 'unreadable', reason: 'not a Coffer audit head' };
    return {
      state: 'ok',
      checkpoint: {
        chainId: value.chainId,
        seq: value.seq,
        hash: value.hash,
        timeMs: value.timeMs,
        kind: value.kind as CheckpointKind,
        prevCheckpoint: value.prevCheckpoint as string | null,
        signature: value.signature,
      },
      unsignedTails: tails.map((tail: UnsignedTail) => ({
        chainId: tail.chainId,
        seq: tail.seq,
        hash: tail.hash,
      })),
    };
  } catch {
    return { state: 'unreadable', reason: 'not JSON' };
  }
}

function isTail(value: unknown): value is UnsignedTail {
  const tail = value as Record<string, unknown> | null;
  return (
    typeof tail === 'object' &&
    tail !== null &&
    typeof tail.chainId === 'string' &&
    typeof tail.seq === 'number' &&
    typeof tail.hash === 'string'
  );
}
