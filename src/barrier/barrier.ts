import { combine, split } from 'shamir-secret-sharing';
import { CofferError } from '../core/errors.ts';
import { type EnvelopeKey, openEnvelope, sealEnvelope } from '../crypto/index.ts';
import { openRootKey, type SealRecord, sealKeyBytes } from './seal-record.ts';

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
  /** Distinct shares given so far toward the threshold. */
  readonly progress: number;
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
  #shares = new Map<string, Buffer>();

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

  /** The seal status for the API. */
  status(): SealStatus {
    const threshold = this.#record?.secretThreshold ?? 1;
    return {
      type: this.#type,
      initialized: this.initialized,
      sealed: this.sealed,
      threshold,
      progress: this.#shares.size,
      shares: this.#record?.secretShares ?? 1,
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
    this.#shares.clear();
    return true;
  }

  /**
   * Adds one Shamir share. At the threshold the shares are combined; if they do not open the root key,
   * progress is reset and the call fails (a wrong or corrupted share), nothing else changes.
   */
  async submitShare(share: Buffer): Promise<SealStatus> {
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
    this.#shares.set(share.toString('base64'), share);
    const threshold = record.secretThreshold ?? 1;
    if (this.#shares.size < threshold) return this.status();
    const shares = [...this.#shares.values()];
    this.#shares.clear();
    let unsealKey: Uint8Array;
    try {
      unsealKey = await combine(shares.map((s) => new Uint8Array(s)));
    } catch {
      throw new CofferError(
        'invalid_argument',
        'The unseal keys do not reconstruct the root key; progress was reset.',
      );
    }
    const root = openRootKey(record, Buffer.from(unsealKey));
    unsealKey.fill(0);
    if (!root) {
      throw new CofferError(
        'invalid_argument',
        'The unseal keys do not reconstruct the root key; progress was reset.',
      );
    }
    this.#rootKey = root;
    return this.status();
  }

  /** Forgets the shares given so far. */
  resetProgress(): void {
    this.#shares.clear();
  }

  /** Drops the root key from memory. */
  seal(): void {
    this.#rootKey = undefined;
    this.#shares.clear();
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
