import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, renameSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import type { Storage } from '../storage/storage-types.ts';
import { stmt } from '../storage/storage-types.ts';
import type { Selectable } from 'kysely';
import type { AuditCheckpointsTable } from '../storage/schema.ts';
import type { ChainedEventRow } from './audit-chain.ts';
import { type DeliveredEvent, deliveredEvents, storedCompanions } from './audit-record.ts';

type CheckpointRow = Selectable<AuditCheckpointsTable>;

/** A configured sink (config `auditSinks`). */
export type SinkConfig =
  | { readonly name: string; readonly type: 'stdout' }
  | {
      readonly name: string;
      readonly type: 'file';
      readonly path: string;
      readonly maxBytes: number;
      readonly maxFiles: number;
    }
  | {
      readonly name: string;
      readonly type: 'webhook';
      readonly url: string;
      readonly timeoutMs: number;
      readonly batchSize: number;
    };

/** Delivery state of a sink, for `GET /v2/sys/audit/sinks`. */
export interface SinkStatus {
  readonly name: string;
  readonly type: string;
  /** Events delivered by this node since it started. */
  readonly delivered: number;
  /** Events waiting (written but not yet delivered), as of the last pass. */
  readonly pending: number;
  /** Time from an event's creation to its delivery, for the last batch delivered (ms). */
  readonly lastDelayMs: number | null;
  readonly lastDeliveryTime: number | null;
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
}

/** One signed checkpoint as delivered: enough to check its signature and its link to the one before. */
function deliveredCheckpoint(row: CheckpointRow) {
  return {
    chainId: row.chain_id,
    seq: Number(row.seq),
    hash: row.hash,
    timeMs: Number(row.time),
    kind: row.kind,
    prevCheckpoint: row.prev_checkpoint,
    signature: row.signature,
  };
}

/** What one delivery carries: events of one chain, or the checkpoints that sign them. */
interface Batch {
  readonly events: readonly ChainedEventRow[];
  readonly checkpoints: readonly CheckpointRow[];
}

type Deliver = (batch: Batch, batchId: string) => Promise<void>;

/** A checkpoint's place among its chain's writer checkpoints: a closing one follows a periodic one. */
function checkpointPosition(row: { seq: number | bigint | string; kind: string }): number {
  return Number(row.seq) * 2 + (row.kind === 'closing' ? 1 : 0);
}

/** The JSON lines of a batch: one per event, then `{"checkpoint": …}` per checkpoint. */
function lines(batch: Batch, wrapEvent: (event: DeliveredEvent) => unknown): string[] {
  return [
    ...batch.events.flatMap((row) =>
      deliveredEvents(row).map((event) => `${JSON.stringify(wrapEvent(event))}\n`),
    ),
    ...batch.checkpoints.map((row) => `${JSON.stringify({ checkpoint: deliveredCheckpoint(row) })}\n`),
  ];
}

function target(config: SinkConfig): Deliver {
  if (config.type === 'stdout') {
    return async (batch) => {
      process.stdout.write(lines(batch, (event) => ({ audit: event })).join(''));
    };
  }
  if (config.type === 'file') {
    let size = existsSync(config.path) ? statSync(config.path).size : 0;
    const rotate = () => {
      for (let i = config.maxFiles - 1; i >= 1; i--) {
        const from = i === 1 ? config.path : `${config.path}.${i - 1}`;
        if (existsSync(from)) renameSync(from, `${config.path}.${i}`);
      }
      size = 0;
    };
    return async (batch) => {
      let chunk = '';
      for (const line of lines(batch, (event) => event)) {
        if (size + chunk.length >= config.maxBytes && size + chunk.length > 0) {
          if (chunk) appendFileSync(config.path, chunk, { mode: 0o600 });
          chunk = '';
          rotate();
        }
        chunk += line;
      }
      if (chunk) appendFileSync(config.path, chunk, { mode: 0o600 });
      size += Buffer.byteLength(chunk);
    };
  }
  return async (batch, batchId) => {
    const response = await fetch(config.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': batchId },
      body: JSON.stringify({
        events: batch.events.flatMap(deliveredEvents),
        checkpoints: batch.checkpoints.map(deliveredCheckpoint),
      }),
      signal: AbortSignal.timeout(config.timeoutMs),
    });
    if (!response.ok) throw new Error(`webhook answered ${response.status}`);
  };
}

const leaseMs = 10_000;
const maxBackoffMs = 60_000;

/**
 * Delivers durable audit events to the configured sinks from storage, by a persistent cursor per
 * sink and chain: a sink that is down or slow holds nothing in memory (the database is the queue),
 * and nothing is lost across restarts. One node delivers each sink at a time (a lease). Delivery is
 * at least once: a crash between delivery and the cursor update repeats that batch, with the same
 * event ids and the same `Idempotency-Key` (`chain:first-last`) so receivers can drop it.
 *
 * Every checkpoint a writer signs (periodic and closing) follows its chain's events, in a batch of
 * its own (`chain:checkpoints:from-to`, by checkpoint position), once the events it signs were
 * delivered: a copy of the signed heads outside the database, against which a cut-back chain shows.
 * Retention's prune markers are not sent (the sink keeps the events they remove).
 */
export class AuditSinkRunner {
  readonly #storage: Storage;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #sinks: readonly SinkEntry[];
  readonly #owner = randomUUID();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(storage: Storage, sinks: readonly SinkConfig[], clock: Clock, logger: Logger) {
    this.#storage = storage;
    this.#clock = clock;
    this.#logger = logger;
    this.#sinks = sinks.map((config) => ({
      config,
      deliver: target(config),
      nextAttemptMs: 0,
      failures: 0,
      state: {
        delivered: 0,
        pending: 0,
        lastDelayMs: null,
        lastDeliveryTime: null,
        consecutiveFailures: 0,
        lastError: null,
      },
    }));
  }

  /** Delivers every `intervalMs`. */
  start(intervalMs: number): void {
    if (this.#sinks.length === 0) return;
    this.#timer = setInterval(() => void this.run(), intervalMs);
    this.#timer.unref();
  }

  /** One delivery pass over every sink (joins a pass in flight). */
  run(): Promise<void> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Stops the timer, waits for a pass in flight, and releases this node's leases. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
    if (this.#sinks.length === 0) return;
    try {
      await this.#storage.write([
        stmt(
          this.#storage.db
            .updateTable('audit_sink_leases')
            .set({ lease_until: 0 })
            .where('owner', '=', this.#owner),
        ),
      ]);
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message }, 'could not release audit sink leases');
    }
  }

  /** The state of every sink. */
  status(): SinkStatus[] {
    return this.#sinks.map((sink) => ({ name: sink.config.name, type: sink.config.type, ...sink.state }));
  }

  /** Failed delivery passes of every sink since this node started (metrics). */
  failureCounts(): Array<{ name: string; failures: number }> {
    return this.#sinks.map((sink) => ({ name: sink.config.name, failures: sink.failures }));
  }

  async #pass(): Promise<void> {
    for (const sink of this.#sinks) {
      const now = this.#clock.nowMs();
      if (now < sink.nextAttemptMs || !(await this.#claim(sink.config.name, now))) continue;
      try {
        await this.#deliverPending(sink);
        sink.state.consecutiveFailures = 0;
        sink.state.lastError = null;
      } catch (err) {
        sink.state.consecutiveFailures += 1;
        sink.failures += 1;
        sink.state.lastError = (err as Error).message;
        const backoff = Math.min(maxBackoffMs, 1000 * 2 ** (sink.state.consecutiveFailures - 1));
        sink.nextAttemptMs = now + backoff / 2 + Math.random() * (backoff / 2);
        this.#logger.warn(
          { sink: sink.config.name, err: (err as Error).message },
          'audit sink delivery failed; retrying with backoff',
        );
      }
    }
  }

  async #claim(name: string, now: number): Promise<boolean> {
    const db = this.#storage.db;
    await this.#storage.write([
      stmt(
        db
          .insertInto('audit_sink_leases')
          .values({ sink: name, owner: this.#owner, lease_until: 0 })
          .onConflict((oc) => oc.column('sink').doNothing()),
      ),
    ]);
    try {
      await this.#storage.write([
        stmt(
          db
            .updateTable('audit_sink_leases')
            .set({ owner: this.#owner, lease_until: now + leaseMs })
            .where('sink', '=', name)
            .where((eb) => eb.or([eb('owner', '=', this.#owner), eb('lease_until', '<', now)])),
          'one',
        ),
      ]);
      return true;
    } catch {
      return false;
    }
  }

  async #deliverPending(sink: SinkEntry): Promise<void> {
    const db = this.#storage.db;
    const name = sink.config.name;
    const batchSize = sink.config.type === 'webhook' ? sink.config.batchSize : 500;
    const chains = await db
      .selectFrom('audit_chains as c')
      .leftJoin('audit_sink_cursors as k', (join) =>
        join.onRef('k.chain_id', '=', 'c.chain_id').on('k.sink', '=', name),
      )
      .select(['c.chain_id', 'c.head_seq', 'c.checkpoint_pos', 'k.seq', 'k.checkpoint_pos as delivered_pos'])
      .execute();
    const behind = chains.filter(
      (c) =>
        Number(c.head_seq) > Number(c.seq ?? 0) || Number(c.checkpoint_pos) > Number(c.delivered_pos ?? 0),
    );
    sink.state.pending = behind.reduce((sum, c) => sum + Number(c.head_seq) - Number(c.seq ?? 0), 0);
    for (const chain of behind) {
      let cursor = Number(chain.seq ?? 0);
      for (;;) {
        const rows = (await db
          .selectFrom('audit_events')
          .selectAll()
          .where('chain_id', '=', chain.chain_id)
          .where('seq', '>', cursor)
          .orderBy('seq')
          .limit(batchSize)
          .execute()) as ChainedEventRow[];
        if (rows.length === 0) break;
        const first = Number(rows[0]!.seq);
        const last = Number(rows[rows.length - 1]!.seq);
        await sink.deliver({ events: rows, checkpoints: [] }, `${chain.chain_id}:${first}-${last}`);
        await this.#storage.write([
          stmt(
            db
              .insertInto('audit_sink_cursors')
              .values({ sink: name, chain_id: chain.chain_id, seq: last })
              .onConflict((oc) => oc.columns(['sink', 'chain_id']).doUpdateSet({ seq: last })),
          ),
        ]);
        const now = this.#clock.nowMs();
        cursor = last;
        for (const row of rows) sink.state.delivered += 1 + storedCompanions(row).length;
        sink.state.pending = Math.max(0, sink.state.pending - rows.length);
        sink.state.lastDelayMs = now - Number(rows[0]!.time);
        sink.state.lastDeliveryTime = now;
      }
      await this.#deliverCheckpoints(sink, chain.chain_id, cursor, Number(chain.delivered_pos ?? 0));
    }
  }

  /** Delivers the chain's writer checkpoints not yet sent whose events were (up to `eventsUpTo`). */
  async #deliverCheckpoints(
    sink: SinkEntry,
    chainId: string,
    eventsUpTo: number,
    deliveredPos: number,
  ): Promise<void> {
    const db = this.#storage.db;
    const rows = (
      await db
        .selectFrom('audit_checkpoints')
        .selectAll()
        .where('chain_id', '=', chainId)
        .where('kind', 'in', ['periodic', 'closing'])
        .where('seq', '>=', Math.floor(deliveredPos / 2))
        .where('seq', '<=', eventsUpTo)
        .execute()
    )
      .filter((row) => checkpointPosition(row) > deliveredPos)
      .sort((a, b) => checkpointPosition(a) - checkpointPosition(b));
    if (rows.length === 0) return;
    const from = checkpointPosition(rows[0]!);
    const to = checkpointPosition(rows[rows.length - 1]!);
    await sink.deliver({ events: [], checkpoints: rows }, `${chainId}:checkpoints:${from}-${to}`);
    await this.#storage.write([
      stmt(
        db
          .insertInto('audit_sink_cursors')
          .values({ sink: sink.config.name, chain_id: chainId, seq: eventsUpTo, checkpoint_pos: to })
          .onConflict((oc) => oc.columns(['sink', 'chain_id']).doUpdateSet({ checkpoint_pos: to })),
      ),
    ]);
  }
}

interface SinkEntry {
  readonly config: SinkConfig;
  readonly deliver: Deliver;
  readonly state: MutableStatus;
  nextAttemptMs: number;
  failures: number;
}

interface MutableStatus {
  delivered: number;
  pending: number;
  lastDelayMs: number | null;
  lastDeliveryTime: number | null;
  consecutiveFailures: number;
  lastError: string | null;
}
