import type { Logger } from 'pino';
import type { SignedCheckpoint } from './audit-chain.ts';
import { type UnsignedTail, writeAuditHead } from './audit-head-file.ts';

/**
 * Keeps a node's head file current: the newest durable checkpoint, and the positions a sealed
 * shutdown left unsigned until a later run signs them. Writes run one at a time; a checkpoint made
 * while one is running replaces any still waiting (the newest head commits to every earlier one),
 * so a busy node fsyncs the file at most once per write in flight, not once per checkpoint.
 */
export class AuditHeadWriter {
  readonly #path: string;
  readonly #logger: Logger;
  #writing: Promise<void> = Promise.resolve();
  /** The newest durable checkpoint not yet taken by a write. */
  #waiting: SignedCheckpoint | undefined;
  /** Positions a sealed shutdown left unsigned (written with every head until they are signed). */
  tails: UnsignedTail[];

  constructor(path: string, logger: Logger, tails: readonly UnsignedTail[]) {
    this.#path = path;
    this.#logger = logger;
    this.tails = [...tails];
  }

  /** Queues `checkpoint` (durable) to become the file's head, with the current tails. */
  write(checkpoint: SignedCheckpoint): void {
    const waiting = this.#waiting !== undefined;
    this.#waiting = checkpoint;
    if (waiting) return;
    this.#writing = this.#writing.then(async () => {
      const newest = this.#waiting!;
      this.#waiting = undefined;
      try {
        await writeAuditHead(this.#path, newest, this.tails);
      } catch (err) {
        this.#logger.error(
          { err: (err as Error).message },
          'could not write the audit head file; truncation of the newest events may go unnoticed',
        );
      }
    });
  }

  /** Resolves once every write queued so far has finished. */
  settled(): Promise<void> {
    return this.#writing;
  }
}
