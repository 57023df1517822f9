import type { CofferError } from '../core/errors.ts';
import type { Principal } from '../iam/principal.ts';
import type { ChangeFeedFollower } from '../storage/change-feed-follower.ts';
import { readChanges, type ChangeRow } from '../storage/change-log.ts';
import type { Storage } from '../storage/storage-types.ts';
import { resourceMatches, scanLimit, type ChangeFeedService } from './change-feed-service.ts';

/** Where a change stream's events go (the HTTP layer writes them as Server-Sent Events). */
export interface ChangeStreamSink {
  /**
   * Writes one change (the same row object goes to every stream of a follower batch, so a sink may
   * serialize it once for all of them); false when the client reads too slowly (the stream then ends).
   */
  send(row: ChangeRow): boolean;
  /** Ends the stream, telling the client why when `error` is given. */
  end(error?: CofferError): void;
}

/** What a change stream follows. */
export interface ChangeStreamOptions {
  readonly principal: Principal;
  readonly projectId: string;
  readonly resource?: string | undefined;
  /** The cursor to deliver changes after (already checked against retention). */
  readonly after: number;
}

/** Rows read per query while catching up. */
const catchUpBatch = 500;
/** Batches a stream may hold unprocessed before it is too slow and ends. */
const maxQueuedBatches = 1000;

/** What a change stream is built from. */
export interface ChangeStreamDeps {
  readonly storage: Storage;
  readonly follower: ChangeFeedFollower;
  readonly feed: ChangeFeedService;
  /**
   * The pause after each page budget (`scanLimit` rows) of catch-up: a stream catches up no faster
   * than a client reading one page per interval, however many streams a caller opens on old cursors.
   */
  readonly catchUpPauseMs: number;
}

/**
 * One open change stream: it reads the retained changes after its cursor from storage, then
 * switches to the node's feed follower (one poll for every stream on the node), delivering every
 * change of its project that the caller may see, each once and in cursor order.
 */
export class ChangeStream {
  readonly #storage: Storage;
  readonly #follower: ChangeFeedFollower;
  readonly #feed: ChangeFeedService;
  readonly #catchUpPauseMs: number;
  readonly #options: ChangeStreamOptions;
  readonly #sink: ChangeStreamSink;
  #position: number;
  #live = false;
  #closed = false;
  #queue: Promise<void> = Promise.resolve();
  #queued = 0;
  #unsubscribe: (() => void) | undefined;
  #pause: { timer: NodeJS.Timeout; resume: () => void } | undefined;

  constructor(deps: ChangeStreamDeps, options: ChangeStreamOptions, sink: ChangeStreamSink) {
    this.#storage = deps.storage;
    this.#follower = deps.follower;
    this.#feed = deps.feed;
    this.#catchUpPauseMs = deps.catchUpPauseMs;
    this.#options = options;
    this.#sink = sink;
    this.#position = options.after;
  }

  /** The cursor of the newest change handled (delivered or not visible). */
  get position(): number {
    return this.#position;
  }

  /** Starts: subscribes (batches are ignored until caught up), then catches up from storage. */
  start(): void {
    this.#unsubscribe = this.#follower.subscribe({
      onChanges: (rows) => {
        if (!this.#live || this.#closed) return;
        if (++this.#queued > maxQueuedBatches) {
          this.close();
          return;
        }
        this.#queue = this.#queue.then(async () => {
          this.#queued--;
          await this.#deliver(rows);
        });
      },
    });
    this.#queue = this.#catchUp().catch(() => this.close());
  }

  /** Ends the stream (idempotent); `error` is sent to the client first. */
  close(error?: CofferError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    if (this.#pause) {
      clearTimeout(this.#pause.timer);
      this.#pause.resume();
    }
    this.#sink.end(error);
  }

  async #catchUp(): Promise<void> {
    let scanned = 0;
    for (;;) {
      if (scanned >= scanLimit) {
        scanned = 0;
        await new Promise<void>((resume) => {
          this.#pause = { timer: setTimeout(resume, this.#catchUpPauseMs).unref(), resume };
        });
        this.#pause = undefined;
        if (this.#closed) return;
      }
      // Every change up to the follower's position is committed with its cursor, so a read that
      // starts after this line sees all of them: once that read is short, the follower's batches
      // carry on from there without a gap.
      const followed = this.#follower.position;
      const from = this.#position;
      const rows = await readChanges(this.#storage.db, from, catchUpBatch, this.#options.projectId);
      try {
        await this.#feed.requireRetained(from);
      } catch (err) {
        this.close(err as CofferError);
        return;
      }
      scanned += rows.length;
      await this.#deliver(rows);
      if (this.#closed) return;
      if (rows.length < catchUpBatch) {
        this.#position = Math.max(this.#position, followed);
        if (this.#follower.position <= this.#position) {
          this.#live = true;
          return;
        }
      }
    }
  }

  async #deliver(rows: readonly ChangeRow[]): Promise<void> {
    for (const row of rows) {
      if (this.#closed) return;
      if (row.cursor <= this.#position) continue;
      if (row.projectId !== this.#options.projectId) continue;
      if (!resourceMatches(this.#options.resource, row.resource)) continue;
      // Decided once per principal and row for all the streams of a batch (one check, not one per stream).
      const decided = this.#feed.visibleShared(this.#options.principal, row);
      const visible = typeof decided === 'boolean' ? decided : await decided;
      if (this.#closed) return;
      this.#position = row.cursor;
      if (visible && !this.#sink.send(row)) {
        this.close();
        return;
      }
    }
  }
}
