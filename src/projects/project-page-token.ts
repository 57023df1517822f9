import type { Barrier } from '../barrier/barrier.ts';
import { CofferError } from '../core/errors.ts';

/** The barrier's part in page tokens: encryption bound to a context. */
export type PageTokenBarrier = Pick<Barrier, 'encrypt' | 'decrypt'>;

const context = 'page-token:projects.visible';

/**
 * Page tokens of filtered project listings, sealed by the barrier. A scan that stops at its bound
 * continues after the last project it read, which the caller may not see: a readable token would
 * name it. Sealed under the root key, the token reads the same on every node of a cluster, and
 * says nothing to the caller (a root key rotation only ends the listings in progress).
 */
export class ProjectPageToken {
  readonly #barrier: PageTokenBarrier;

  constructor(barrier: PageTokenBarrier) {
    this.#barrier = barrier;
  }

  /** An opaque token continuing after the project `after`. */
  seal(after: string): string {
    return this.#barrier.encrypt(Buffer.from(after, 'utf8'), context).toString('base64url');
  }

  /** The project id a token made by `seal` continues after; `invalid_argument` for any other token. */
  open(token: string | undefined): string | undefined {
    if (token === undefined || token === '') return undefined;
    try {
      return this.#barrier.decrypt(Buffer.from(token, 'base64url'), context).toString('utf8');
    } catch (err) {
      if (err instanceof CofferError && err.code === 'sealed') throw err;
      throw new CofferError('invalid_argument', 'pageToken is not valid.');
    }
  }
}
