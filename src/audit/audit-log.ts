import { type KeyObject, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { CofferError } from '../core/errors.ts';
import type { Storage, WriteStatement } from '../storage/storage-types.ts';
import { statementTemplate } from '../storage/storage-types.ts';
import { type CheckpointKind, genesisHash, type SignedCheckpoint } from './audit-chain.ts';
import { AuditCheckpointer } from './audit-checkpointer.ts';
import { AuditEventInsert, chainEvents } from './audit-event-insert.ts';
import type { AuditEvent } from './audit-types.ts';
import { storableEvents } from './storable-event.ts';

/** When to sign the chain head: after this many events or this much time, whichever comes first. */
export interface CheckpointPolicy {
  readonly everyEvents: number;
  readonly everyMs: number;
}

/** A writer's own record of its chain (kept in memory, so an edit of storage cannot move it). */
export interface WriterHead {
  readonly chainId: string;
  /** The last position known durable on `chainId`. */
  readonly seq: number;
  /** The newest checkpoint known durable (possibly of an earlier chain of this node). */
  readonly lastCheckpoint?: SignedCheckpoint;
}

/** Told about each group commit once it settles (metrics); must be cheap. */
export interface AuditWriteObserver {
  /** A batch of `events` events was made durable (`ok`) or not, its write taking `seconds`. */
  batchWritten(events: number, seconds: number, ok: boolean): void;
}

interface Waiter {
  readonly events: readonly AuditEvent[];
  /** One record (a request's events: the first takes the chain position, the rest ride along). */
  readonly record: boolean;
  /** Outbox rows these events replace (deleted in the same unit). */
  readonly outboxIds: readonly string[];
  resolve(): void;
  reject(err: unknown): void;
  settled: boolean;
}

/**
 * The one audit interface. `append` resolves once the events are durable, or rejects with
 * `audit_unavailable` after a bounded wait, so the caller can fail closed.
 *
 * Events are chained by one writer per process: queued events are hashed onto the chain head and
 * written in one unit (group commit: many requests, one transaction, one fsync), one batch at a
 * time, so the head only moves once a batch is known to be durable. When a batch fails — or its
 * outcome is unknown (a timeout) — the writer starts a new chain, so no chain ever has a gap that
 * was not made by tampering. Every `everyEvents` events or `everyMs`, the head is signed (Ed25519)
 * in the same unit; closing the log signs a closing checkpoint.
 *
 * Checkpoints form a chain across this node's chains and restarts: each signs a reference to the
 * node's previous checkpoint, and once it is durable it is also written to the head file (outside
 * the database), so the newest head commits to the whole history and a cut-back chain is found.
 */
export class AuditLog {
  readonly #storage: Storage;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #policy: CheckpointPolicy;
  #queue: Waiter[] = [];
  #writing: Promise<void> | undefined;
  #chainId = randomUUID();
  #seq = 0;
  #head = genesisHash;
  #unsigned = 0;
  #lastSignedMs = 0;
  #failing = false;
  #closed = false;
  /** The signing key, the newest durable checkpoint and the head file. */
  readonly #checkpoints: AuditCheckpointer;
  /** Set by `signHead`: the next batch signs the head whatever the policy says. */
  #signNext = false;
  #observer: AuditWriteObserver | undefined;

  readonly #disabled: boolean;
  readonly #insertEvents: AuditEventInsert;
  readonly #deleteOutbox: (values: { id: string }) => WriteStatement;
  readonly #upsertHead: (values: { chainId: string; seq: number; nowMs: number }) => WriteStatement;

  constructor(
    storage: Storage,
    logger: Logger,
    clock: Clock,
    timeoutMs: number,
    policy: CheckpointPolicy,
    disabled = false,
    headFile?: string,
  ) {
    this.#disabled = disabled;
    this.#checkpoints = new AuditCheckpointer(storage, logger, clock, disabled ? undefined : headFile);
    if (disabled)
      logger.warn('AUDIT IS OFF (devAuditOff): events are not recorded; for development and benchmarks only');
    this.#storage = storage;
    this.#logger = logger;
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
    this.#policy = policy;
    const db = storage.db;
    this.#insertEvents = new AuditEventInsert(db);
    this.#deleteOutbox = statementTemplate(['id'], (p) =>
      db.deleteFrom('audit_outbox').where('id', '=', p.id),
    );
    this.#upsertHead = statementTemplate(['chainId', 'seq', 'nowMs'], (p) =>
      db
        .insertInto('audit_chains')
        .values({ chain_id: p.chainId, head_seq: p.seq, update_time: p.nowMs })
        .onConflict((oc) => oc.column('chain_id').doUpdateSet({ head_seq: p.seq, update_time: p.nowMs })),
    );
  }

  /** True while the last batch failed. */
  get failing(): boolean {
    return this.#failing;
  }

  /** What this writer knows is durable: its chain's position, and the newest checkpoint it made. */
  durableHead(): WriterHead {
    return {
      chainId: this.#chainId,
      seq: this.#seq,
      ...(this.#checkpoints.lastCheckpoint ? { lastCheckpoint: this.#checkpoints.lastCheckpoint } : {}),
    };
  }

  /** Appends waiting for the next group commit (metrics: the queue depth). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Reports every batch write to `observer` (metrics). */
  observeWrites(observer: AuditWriteObserver): void {
    this.#observer = observer;
  }

  /** Sets (or clears, when sealed) the key that signs checkpoints. */
  setSigningKey(key: KeyObject | undefined): void {
    this.#checkpoints.setSigningKey(key);
  }

  /**
   * Makes `events` durable, each a record of its own, or throws `audit_unavailable` within the
   * bounded wait.
   */
  append(events: readonly AuditEvent[], outboxIds: readonly string[] = []): Promise<void> {
    if (events.length === 0 || this.#disabled) return Promise.resolve();
    if (this.#closed) return Promise.reject(unavailable());
    return this.#enqueue(events, outboxIds, false);
  }

  /**
   * Makes a request's events durable as ONE record (docs/decisions/0009-audit-record.md): `events[0]`
   * takes the chain position, the others are its companions (one stored row, one chain element; still
   * separate events to queries, sinks and verification). Throws `audit_unavailable` like `append`.
   */
  appendRecord(events: readonly AuditEvent[], outboxIds: readonly string[] = []): Promise<void> {
    if (events.length === 0 || this.#disabled) return Promise.resolve();
    if (this.#closed) return Promise.reject(unavailable());
    return this.#enqueue(events, outboxIds, events.length > 1);
  }

  /** Queues a batch entry; rejects with `audit_unavailable` when it fails or is not written in time. */
  #enqueue(given: readonly AuditEvent[], outboxIds: readonly string[], record: boolean): Promise<void> {
    // One bad text (a NUL from a URL) must not fail the batch it joins: other requests' events too.
    const events = storableEvents(given);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (waiter.settled) return;
        waiter.settled = true;
        // A write that does not finish in time counts as failing until a batch succeeds again.
        this.#failing = true;
        reject(unavailable());
      }, this.#timeoutMs);
      const waiter: Waiter = {
        events,
        record,
        outboxIds,
        settled: false,
        resolve: () => {
          clearTimeout(timer);
          if (!waiter.settled) {
            waiter.settled = true;
            resolve();
          }
        },
        reject: (err) => {
          clearTimeout(timer);
          if (!waiter.settled) {
            waiter.settled = true;
            reject(err);
          }
        },
      };
      this.#queue.push(waiter);
      this.#pump();
    });
  }

  /**
   * Writes what is queued, then signs the head and writes it to the head file, whatever the policy
   * says: sealing calls it before it drops the key, so the events up to the seal (its own event
   * included) are signed. Bounded by the audit timeout like `append`: a failing or hung write rejects
   * with `audit_unavailable` (logged), so sealing is never held up by storage.
   */
  async signHead(): Promise<void> {
    if (this.#disabled || this.#closed) return;
    const deadline = Date.now() + this.#timeoutMs;
    this.#signNext = true;
    try {
      await this.#enqueue([], [], false);
    } catch (err) {
      this.#logger.error({ err: (err as Error).message }, 'could not sign the audit head before sealing');
      throw err;
    }
    // The head file is local and its failures are logged by its writer; it only gets the time left.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), Math.max(0, deadline - Date.now()));
    });
    const settled = this.#checkpoints.headFile?.settled().then(() => false) ?? Promise.resolve(false);
    if (await Promise.race([settled, late]))
      this.#logger.error('the audit head file was not written in time before sealing');
    clearTimeout(timer);
  }

  /** Signs a checkpoint message with the audit key, or undefined while sealed (for retention). */
  signCheckpoint(
    chainId: string,
    seq: number,
    hash: string,
    timeMs: number,
    kind: CheckpointKind,
  ): string | undefined {
    return this.#checkpoints.signMessage(chainId, seq, hash, timeMs, kind);
  }

  /** Writes what is queued, signs a closing checkpoint, and refuses further events. */
  async close(): Promise<void> {
    while (this.#writing || this.#queue.length > 0) {
      this.#pump();
      await this.#writing;
    }
    this.#closed = true;
    const checkpoints = this.#checkpoints;
    const headFile = checkpoints.headFile;
    if (this.#seq > 0 && checkpoints.canSign) {
      const checkpoint = checkpoints.checkpoint(this.#chainId, this.#seq, this.#head, 'closing');
      try {
        await this.#storage.write(checkpoints.statements(checkpoint));
        checkpoints.durable(checkpoint);
      } catch (err) {
        this.#logger.warn({ err: (err as Error).message }, 'could not write the closing audit checkpoint');
      }
    } else if (headFile && this.#seq > 0 && this.#unsigned > 0 && checkpoints.lastCheckpoint) {
      // Sealed: the events since the last checkpoint cannot be signed now. The head file keeps their
      // position and hash, so a cut is still found after a restart, and the next unsealed writer signs it.
      headFile.tails.push({ chainId: this.#chainId, seq: this.#seq, hash: this.#head });
      checkpoints.durable(checkpoints.lastCheckpoint);
    }
    await headFile?.settled();
  }

  #pump(): void {
    if (this.#writing || this.#queue.length === 0) return;
    this.#writing = this.#writeBatch().finally(() => {
      this.#writing = undefined;
      this.#pump();
    });
  }

  async #writeBatch(): Promise<void> {
    if (this.#checkpoints.tailsToSign) await this.#checkpoints.signTails();
    const batch = this.#queue;
    this.#queue = [];
    const statements: WriteStatement[] = [];
    // Every record of the batch as one flat list of column values (and one of its companions' query
    // keys), inserted by a few statements.
    const values: unknown[] = [];
    const terms: unknown[] = [];
    const chainId = this.#chainId;
    let seq = this.#seq;
    let head = this.#head;
    let events = 0;
    for (const waiter of batch) {
      for (const id of waiter.outboxIds) statements.push(this.#deleteOutbox({ id }));
      ({ seq, head } = chainEvents(values, waiter.events, chainId, seq, head, waiter.record, terms));
      events += waiter.events.length;
    }
    if (values.length > 0)
      for (const insert of this.#insertEvents.statements(values)) statements.push(insert);
    if (terms.length > 0)
      for (const insert of this.#insertEvents.termStatements(terms)) statements.push(insert);
    const unsigned = this.#unsigned + (seq - this.#seq);
    const now = this.#clock.nowMs();
    const forced = this.#signNext;
    this.#signNext = false;
    const signNow =
      this.#checkpoints.canSign &&
      seq > 0 &&
      (unsigned >= this.#policy.everyEvents ||
        now - this.#lastSignedMs >= this.#policy.everyMs ||
        (forced && unsigned > 0));
    if (seq === this.#seq && !signNow) {
      // Only `signHead` waiting, with nothing new to sign.
      for (const waiter of batch) waiter.resolve();
      return;
    }
    statements.push(this.#chainHead(seq, now));
    const checkpoint = signNow ? this.#checkpoints.checkpoint(chainId, seq, head, 'periodic') : undefined;
    if (checkpoint) statements.push(...this.#checkpoints.statements(checkpoint));
    const started = performance.now();
    try {
      await this.#storage.write(statements);
      this.#observer?.batchWritten(events, (performance.now() - started) / 1000, true);
      if (checkpoint) this.#checkpoints.durable(checkpoint);
      this.#seq = seq;
      this.#head = head;
      this.#unsigned = signNow ? 0 : unsigned;
      if (signNow) this.#lastSignedMs = now;
      this.#failing = false;
      for (const waiter of batch) waiter.resolve();
    } catch (err) {
      // Durable or not, we cannot know: continue on a fresh chain so the old one never has a gap.
      this.#observer?.batchWritten(events, (performance.now() - started) / 1000, false);
      this.#failing = true;
      this.#chainId = randomUUID();
      this.#seq = 0;
      this.#head = genesisHash;
      this.#unsigned = 0;
      this.#logger.error({ err: (err as Error).message, events }, 'audit events could not be made durable');
      for (const waiter of batch) waiter.reject(unavailable());
    }
  }

  #chainHead(seq: number, nowMs: number): WriteStatement {
    return this.#upsertHead({ chainId: this.#chainId, seq, nowMs });
  }
}

function unavailable(): CofferError {
  return new CofferError(
    'audit_unavailable',
    'The audit event could not be made durable (storage failing or too slow); the answer was withheld.',
  );
}
