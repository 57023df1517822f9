import {
  feedBounds,
  hasUnsequenced,
  readChanges,
  recordsChange,
  sequenceStatements,
  type ChangeRow,
} from './change-log.ts';
import type { CacheInvalidation } from './cache-invalidation.ts';
import { WriteRejected, type Storage, type WriteStatement } from './storage-types.ts';

/** What a subscriber of the node's feed follower is told. */
export interface ChangeSubscriber {
  /** New sequenced changes, in cursor order, each batch after the previous one. */
  onChanges(rows: readonly ChangeRow[]): void;
  /**
   * The feed could not be read or sequenced (storage failing), a tick did not end within its
   * deadline, or changes were pruned before this node read them; it is retried on the next tick.
   */
  onError?(err: Error): void;
  /** A tick that began at `startedAt` (performance.now()) completed: every change committed before it was delivered. */
  onTick?(startedAt: number): void;
}

/** How long a tick may run before it counts as failed and the next one may start. */
export function tickDeadlineMs(intervalMs: number): number {
  return Math.max(1000, 2 * intervalMs);
}

/** Rows read per query while catching up. */
const readBatch = 1000;

/**
 * The one feed reader of a node (docs/decisions/0006-change-feed.md). Every `intervalMs`, and at
 * once after a local write that recorded a change (`kick`), it runs the sequencer when some
 * committed change has no cursor yet, then reads the rows after the newest cursor it has seen and
 * hands them to every subscriber: the IAM caches and every open change stream share this one poll.
 */
export class ChangeFeedFollower {
  readonly #storage: Storage;
  readonly #intervalMs: number;
  readonly #deadlineMs: number;
  /** Moves when a tick starts or is abandoned: a tick whose number is not current changes nothing. */
  #epoch = 0;
  readonly #subscribers = new Set<ChangeSubscriber>();
  #position = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  /**
   * `deadline: false` (one node: SQLite, where every change is this process's own and a tick only
   * waits behind the writer) lets a tick run as long as it takes instead of failing it.
   */
  constructor(storage: Storage, intervalMs: number, options: { deadline?: boolean } = {}) {
    this.#storage = storage;
    this.#intervalMs = intervalMs;
    this.#deadlineMs = options.deadline === false ? Infinity : tickDeadlineMs(intervalMs);
  }

  /** The poll interval (the caches' lease is derived from it). */
  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** The newest cursor handed to subscribers (every change up to it has been delivered). */
  get position(): number {
    return this.#position;
  }

  /** Starts at the feed's current head and follows it every `intervalMs`. */
  async start(): Promise<void> {
    this.#position = (await feedBounds(this.#storage.db)).head;
    this.#timer = setInterval(() => void this.tick(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Adds a subscriber; returns the function that removes it. */
  subscribe(subscriber: ChangeSubscriber): () => void {
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  /** How many subscribers are attached (metrics, tests). */
  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /** Asks for a tick as soon as possible (a local write recorded a change). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) this.#again = true;
    else void this.tick();
  }

  /**
   * Sequences pending changes and delivers new ones once; joins a tick in flight. A tick that has
   * not ended within its deadline (a read that never returns) counts as failed: subscribers get
   * `onError`, and it is abandoned (whatever it reads later is dropped) so the next tick may start.
   */
  tick(): Promise<void> {
    this.#running ??= this.#tickWithDeadline().finally(() => {
      this.#running = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        void this.tick();
      }
    });
    return this.#running;
  }

  /**
   * Runs a tick that starts after this call (a tick in flight may have read before a change that
   * committed since): waits for it to end, then ticks (joining one its end started, which is later).
   */
  async sync(): Promise<void> {
    if (this.#running) await this.#running;
    await this.tick();
  }

  /** Stops the timer and waits for a tick in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
  }

  async #tickWithDeadline(): Promise<void> {
    const epoch = ++this.#epoch;
    if (this.#deadlineMs === Infinity) return this.#tickOnce(epoch);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (this.#epoch === epoch) {
          this.#epoch += 1;
          this.#failed(new Error(`the change feed did not answer within ${this.#deadlineMs} ms`));
        }
        resolve();
      }, this.#deadlineMs);
      timer.unref();
    });
    try {
      await Promise.race([this.#tickOnce(epoch), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  #failed(err: Error): void {
    for (const subscriber of this.#subscribers) subscriber.onError?.(err);
  }

  async #tickOnce(epoch: number): Promise<void> {
    const startedAt = performance.now();
    try {
      const db = this.#storage.db;
      if (await hasUnsequenced(db)) {
        try {
          await this.#storage.write(sequenceStatements);
        } catch (err) {
          // Another node's sequencer got there first in a way the unique index refused: retry later.
          if (!(err instanceof WriteRejected)) throw err;
        }
      }
      const { prunedThrough } = await feedBounds(db);
      if (epoch !== this.#epoch) return;
      if (prunedThrough > this.#position) {
        // Changes after this node's position were pruned unread: any of them may be cached.
        this.#position = prunedThrough;
        this.#failed(new Error('changes were pruned before this node read them'));
      }
      for (;;) {
        const rows = await readChanges(db, this.#position, readBatch);
        if (epoch !== this.#epoch) return; // Abandoned: a later tick reads these.
        if (rows.length === 0) break;
        // Cursors are consecutive: a gap means changes were pruned between the prune check above
        // and this read (the retention job of another node), unread; any of them may be cached.
        if (rows[0]!.cursor !== this.#position + 1)
          this.#failed(new Error('changes were pruned before this node read them'));
        this.#position = rows[rows.length - 1]!.cursor;
        for (const subscriber of this.#subscribers) {
          try {
            subscriber.onChanges(rows);
          } catch {
            // A subscriber's failure is its own (a closed stream); the others still get the batch.
          }
        }
        if (rows.length < readBatch) break;
      }
      for (const subscriber of this.#subscribers) subscriber.onTick?.(startedAt);
    } catch (err) {
      if (epoch === this.#epoch) this.#failed(err as Error);
    }
  }
}

/**
 * `storage` whose `write` kicks `follower` after a unit that recorded a change commits, so the
 * change gets its cursor and reaches this node's subscribers at once instead of at the next tick;
 * and, with `invalidation`, drops what the unit changed from this node's metadata caches before
 * the write resolves (everything, when its outcome is unknown).
 */
export function kickingFollower(
  storage: Storage,
  follower: ChangeFeedFollower,
  invalidation?: CacheInvalidation,
): Storage {
  return {
    engine: storage.engine,
    db: storage.db,
    async write(statements: readonly WriteStatement[]) {
      let rows: unknown[][];
      try {
        rows = await storage.write(statements);
      } catch (err) {
        if (!(err instanceof WriteRejected)) invalidation?.invalidate('all');
        throw err;
      }
      invalidation?.committed(statements);
      if (recordsChange(statements)) follower.kick();
      return rows;
    },
    withLock: (name, fn) => storage.withLock(name, fn),
    ping: () => storage.ping(),
    close: () => storage.close(),
    ...(storage.health ? { health: () => storage.health!() } : {}),
    ...(storage.iterateRows ? { iterateRows: (query) => storage.iterateRows!(query) } : {}),
  };
}

/**
 * Has `storage` report a unit that completed after its promise was rejected (outcome unknown): a
 * read between the rejection and the commit may have refilled a cache with the state before it, so
 * everything is invalidated again and the follower kicked (the unit may have recorded a change).
 */
export function invalidateLateCommits(
  storage: Storage,
  follower: ChangeFeedFollower,
  invalidation: CacheInvalidation,
): void {
  storage.onLateCompletion?.(() => {
    invalidation.invalidate('all');
    follower.kick();
  });
}
