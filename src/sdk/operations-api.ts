import type { CallOptions, HttpTransport } from './http-transport.ts';
import { type OperationView, type RegionRef, regionPath, seg } from './sdk-types.ts';

/** A long-running operation of a region. */
export interface OperationRef extends RegionRef {
  readonly operationId: string;
}

/** Options of `wait`. */
export interface WaitOptions extends CallOptions {
  /** Polling interval in ms (default 500). */
  readonly intervalMs?: number;
  /** Gives up (throws) after this many ms (default: never). */
  readonly deadlineMs?: number;
  /** Called with every state polled, the last (done) one included. */
  readonly onProgress?: (operation: OperationView) => void;
}

/** Long-running operations (instance key switches that rewrap every version). */
export class OperationsApi {
  readonly #http: HttpTransport;
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** `GET …/operations/{id}`. */
  get(ref: OperationRef, options?: CallOptions): Promise<OperationView> {
    return this.#http.send(
      { method: 'GET', path: `${regionPath(ref)}/operations/${seg(ref.operationId)}` },
      options,
    );
  }

  /** Polls until the operation is done; resolves with its final state (check `error`). */
  async wait(ref: OperationRef, options: WaitOptions = {}): Promise<OperationView> {
    const interval = options.intervalMs ?? 500;
    const giveUpAt = options.deadlineMs === undefined ? Infinity : Date.now() + options.deadlineMs;
    for (;;) {
      const operation = await this.get(ref, options);
      options.onProgress?.(operation);
      if (operation.done) return operation;
      if (Date.now() + interval > giveUpAt)
        throw new Error(`operation ${ref.operationId} is not done after ${options.deadlineMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, interval));
      if (options.signal?.aborted) throw options.signal.reason as Error;
    }
  }
}
