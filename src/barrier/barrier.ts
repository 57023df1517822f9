import { combine, split } from 'shamir-secret-sharing';
import { CofferError } from '../core/errors.ts';
import { type EnvelopeKey, openEnvelope, sealEnvelope } from '../crypto/index.ts';
import { isShareOf, openRootKey, type SealRecord, sealKeyBytes } from './seal-record.ts';
import { UnsealAttempts } from './unseal-attempts.ts';

/** What `GET /v2/sys/seal-status` and unseal answer. */
export interface SealStatus {
  /** The configured seal type. */
  readonly type: 'file' | 'shamir';
  /** Whether a root key exists yet. */
  readonly initialized: boolean;
  /** Whether the root key is not in memory. */
  readonly sealed: boolean;
  /** Shares needed (shamir), 1 for file. */
  readonly threshold: number;
  /** Distinct shares given so far toward the threshold, in the attempt named by `nonce`. */
  readonly progress: number;
  /**
   * The unseal attempt this answer is about: given to whoever starts it (the first share) and to a
   * caller who names it; empty otherwise (the public status never reveals a nonce).
   */
  readonly nonce: string;
  /** True when the attempt named failed: its shares did not open the root key (a wrong share). */
  readonly attemptFailed: boolean;
  /** Shares made at init (shamir), 1 for file. */
  readonly shares: number;
}

/**
 * The barrier: the only holder of the root key in memory, and the only thing that encrypts with it.
 * Sealed until the unseal key is supplied (key file, or enough Shamir shares). Every ciphertext it
 * makes is bound to a context (the identity of the record it protects).
 */
export class Barrier {
  readonly #type: 'file' | 'shamir';
  #record: SealRecord | undefined;
  #rootKey: EnvelopeKey | undefined;
  readonly #attempts = new UnsealAttempts();

  constructor(type: 'file' | 'shamir', record: SealRecord | undefined) {
    this.#type = type;
    this.#record = record;
  }

  /** True while the root key is not in memory. */
  get sealed(): boolean {
    return this.#rootKey === undefined;
  }

  /** True once a seal record exists. */
  get initialized(): boolean {
    return this.#record !== undefined;
  }

  /** The seal status for the API; with `nonce`, that unseal attempt's progress. */
  status(nonce?: string): SealStatus {
    const threshold = this.#record?.secretThreshold ?? 1;
    const known = this.#attempts.has(nonce) || this.#attempts.failed(nonce);
    return {
      type: this.#type,
      initialized: this.initialized,
      sealed: this.sealed,
      threshold,
      progress: this.#attempts.progress(nonce),
      shares: this.#record?.secretShares ?? 1,
      nonce: known ? nonce! : '',
      attemptFailed: this.#attempts.failed(nonce),
    };
  }

  /** Records that initialization happened (on this node or another). */
  setRecord(record: SealRecord): void {
    this.#record = record;
  }

  /** Unseals with the whole unseal key (file seal); false when it is not the right key. */
  unsealWithKey(unsealKey: Buffer): boolean {
    if (!this.#record) throw new CofferError('failed_precondition', 'Coffer is not initialized.');
    const root = openRootKey(this.#record, unsealKey);
    if (!root) return false;
    this.#rootKey = root;
    this.#attempts.clear();
    return true;
  }

  /**
   * Adds one Shamir share to the unseal attempt `nonce`, or starts an attempt (see UnsealAttempts).
   * At the threshold the attempt's shares are combined; if they do not open the root key, that
   * attempt fails (a wrong or corrupted share) and the call says so; other attempts are untouched.
   * `source` is the caller's address, which may hold only a few attempts at once.
   *
   * When the seal record keeps the hashes of the shares made at init, a value that is none of them is
   * refused here, before it starts or joins an attempt: nobody without a share can hold a slot or
   * spoil an attempt. Records written before that (no hashes) take any share-shaped value, as before.
   */
  async submitShare(
    share: Buffer,
    nonce: string | undefined,
    source: string,
    nowMs: number,
  ): Promise<SealStatus> {
    const record = this.#record;
    if (!record)
      throw new CofferError('failed_precondition', 'Coffer is not initialized: POST /v2/sys/init first.');
    if (record.type !== 'shamir') {
      throw new CofferError(
        'failed_precondition',
        'This node uses the file seal; it unseals from its key file at start.',
      );
    }
    if (!this.sealed) return this.status();
    if (share.length !== sealKeyBytes + 1) {
      throw new CofferError('invalid_argument', 'The unseal key is not a valid share (wrong length).');
    }
    const verified = isShareOf(record, share);
    if (verified === false) {
      throw new CofferError('invalid_argument', 'The unseal key is not a share of this Coffer.');
    }
    const attempt = this.#attempts.add(share, nonce, source, nowMs, verified === true);
    const threshold = record.secretThreshold ?? 1;
    if (attempt.progress < threshold) return this.status(attempt.nonce);
    const shares = this.#attempts.take(attempt.nonce);
    let unsealKey: Uint8Array | undefined;
    try {
      unsealKey = await combine(shares.map((s) => new Uint8Array(s)));
    } catch {
      unsealKey = undefined;
    }
    const root = unsealKey && openRootKey(record, Buffer.from(unsealKey));
    unsealKey?.fill(0);
    if (!root) {
      this.#attempts.fail(attempt.nonce);
      throw new CofferError(
        'invalid_argument',
        `Unseal attempt ${attempt.nonce} failed: its shares do not reconstruct the root key (one is wrong); ` +
          'its progress was reset. Start a new attempt without a nonce.',
      );
    }
    this.#rootKey = root;
    this.#attempts.clear();
    return this.status(attempt.nonce);
  }

  /** Abandons the unseal attempt `nonce`; a reset must name its attempt, so nobody resets others'. */
  resetProgress(nonce: string | undefined, nowMs: number): void {
    if (nonce === undefined) {
      throw new CofferError('invalid_argument', 'A reset needs the nonce of the unseal attempt to abandon.');
    }
    this.#attempts.reset(nonce, nowMs);
  }

  /** Drops the root key from memory. */
  seal(): void {
    this.#rootKey = undefined;
    this.#attempts.clear();
  }

  /** Encrypts under the root key, bound to `context`; `sealed` error when sealed. */
  encrypt(plaintext: Uint8Array, context: string): Buffer {
    if (!this.#rootKey) throw new CofferError('sealed', 'Coffer is sealed.');
    return sealEnvelope(this.#rootKey, plaintext, Buffer.from(context));
  }

  /** Decrypts what `encrypt` made for the same context; throws EnvelopeError otherwise. */
  decrypt(ciphertext: Uint8Array, context: string): Buffer {
    if (!this.#rootKey) throw new CofferError('sealed', 'Coffer is sealed.');
    return openEnvelope(this.#rootKey, ciphertext, Buffer.from(context));
  }
}

/** Splits an unseal key into `shares` Shamir shares, any `threshold` of which rebuild it. */
export async function splitUnsealKey(
  unsealKey: Buffer,
  shares: number,
  threshold: number,
): Promise<Buffer[]> {
  const parts = await split(new Uint8Array(unsealKey), shares, threshold);
  return parts.map((part) => Buffer.from(part));
}
