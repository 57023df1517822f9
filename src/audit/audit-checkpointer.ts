import type { KeyObject } from 'node:crypto';
import { sign } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import type { Storage, WriteStatement } from '../storage/storage-types.ts';
import { stmt } from '../storage/storage-types.ts';
import {
  type CheckpointKind,
  checkpointMessage,
  checkpointRef,
  encodeCheckpointRef,
  type SignedCheckpoint,
} from './audit-chain.ts';
import { readAuditHead } from './audit-head-file.ts';
import { AuditHeadWriter } from './audit-head-writer.ts';

/**
 * The audit writer's checkpoints: the signing key, the node's newest durable checkpoint (which the
 * next one names in its signed message), the head file it is written to once durable, and the
 * unsigned tails a sealed shutdown left there. Used by AuditLog only, which decides when to sign.
 */
export class AuditCheckpointer {
  readonly #storage: Storage;
  readonly #logger: Logger;
  readonly #clock: Clock;
  #signingKey: KeyObject | undefined;
  /** The newest checkpoint known durable (this node's, across restarts): the next one names it. */
  #lastCheckpoint: SignedCheckpoint | undefined;
  /** The node's head file writer, when there is a head file. */
  readonly headFile: AuditHeadWriter | undefined;
  #tailsTried = false;

  /** Reads the head file (when given) for the newest checkpoint and the unsigned tails. */
  constructor(storage: Storage, logger: Logger, clock: Clock, headFile: string | undefined) {
    this.#storage = storage;
    this.#logger = logger;
    this.#clock = clock;
    if (headFile) {
      const head = readAuditHead(headFile);
      if (head.state === 'ok') this.#lastCheckpoint = head.checkpoint;
      // Verification reports it too; the new checkpoints start a fresh chain of checkpoints.
      if (head.state === 'unreadable')
        logger.error({ reason: head.reason }, 'the audit head file cannot be read');
      this.headFile = new AuditHeadWriter(headFile, logger, head.state === 'ok' ? head.unsignedTails : []);
    }
  }

  /** The newest checkpoint known durable. */
  get lastCheckpoint(): SignedCheckpoint | undefined {
    return this.#lastCheckpoint;
  }

  /** True while a signing key is set (unsealed). */
  get canSign(): boolean {
    return this.#signingKey !== undefined;
  }

  /** Sets (or clears, when sealed) the key that signs checkpoints. */
  setSigningKey(key: KeyObject | undefined): void {
    this.#signingKey = key;
  }

  /** Signs a checkpoint message with the audit key, or undefined while sealed (for retention). */
  signMessage(
    chainId: string,
    seq: number,
    hash: string,
    timeMs: number,
    kind: CheckpointKind,
  ): string | undefined {
    if (!this.#signingKey) return undefined;
    return sign(null, checkpointMessage(chainId, seq, hash, timeMs, kind), this.#signingKey).toString(
      'base64',
    );
  }

  /** Signs the head `(chain, seq, hash)`, naming the node's previous checkpoint (or `previous`). */
  checkpoint(
    chainId: string,
    seq: number,
    hash: string,
    kind: CheckpointKind,
    previous = this.#lastCheckpoint,
  ): SignedCheckpoint {
    const timeMs = this.#clock.nowMs();
    const prevCheckpoint = encodeCheckpointRef(previous ? checkpointRef(previous) : undefined);
    const signature = sign(
      null,
      checkpointMessage(chainId, seq, hash, timeMs, kind, prevCheckpoint),
      this.#signingKey!,
    ).toString('base64');
    return { chainId, seq, hash, timeMs, kind, prevCheckpoint, signature };
  }

  /** The checkpoint's row, and the chain's newest checkpoint position (which sinks follow). */
  statements(checkpoint: SignedCheckpoint): WriteStatement[] {
    const db = this.#storage.db;
    const position = checkpoint.seq * 2 + (checkpoint.kind === 'closing' ? 1 : 0);
    return [
      stmt(
        db.insertInto('audit_checkpoints').values({
          chain_id: checkpoint.chainId,
          seq: checkpoint.seq,
          hash: checkpoint.hash,
          time: checkpoint.timeMs,
          kind: checkpoint.kind,
          signature: checkpoint.signature,
          prev_checkpoint: checkpoint.prevCheckpoint,
        }),
      ),
      stmt(
        db
          .updateTable('audit_chains')
          .set({ checkpoint_pos: position })
          .where('chain_id', '=', checkpoint.chainId),
      ),
    ];
  }

  /** Once a checkpoint is durable: the next one names it, and the head file keeps it. */
  durable(checkpoint: SignedCheckpoint): void {
    this.#lastCheckpoint = checkpoint;
    this.headFile?.write(checkpoint);
  }

  /** True when a key is set and the head file holds unsigned tails not yet tried this run. */
  get tailsToSign(): boolean {
    return this.#signingKey !== undefined && !!this.headFile?.tails.length && !this.#tailsTried;
  }

  /**
   * Signs the positions a sealed shutdown left unsigned (from the head file) as their chains'
   * closing checkpoints, when a key is set. Tried once per run: a failure is logged and must not
   * stop audit; the head file keeps them for verification.
   */
  async signTails(): Promise<void> {
    const headFile = this.headFile;
    if (!this.tailsToSign || !headFile) return;
    this.#tailsTried = true;
    const tails = headFile.tails;
    const checkpoints: SignedCheckpoint[] = [];
    for (const tail of tails)
      checkpoints.push(this.checkpoint(tail.chainId, tail.seq, tail.hash, 'closing', checkpoints.at(-1)));
    try {
      await this.#storage.write(checkpoints.flatMap((checkpoint) => this.statements(checkpoint)));
      headFile.tails = headFile.tails.filter((tail) => !tails.includes(tail));
      for (const checkpoint of checkpoints) this.durable(checkpoint);
    } catch (err) {
      this.#logger.error(
        { err: (err as Error).message },
        'could not sign the audit events left unsigned while sealed',
      );
    }
  }
}
