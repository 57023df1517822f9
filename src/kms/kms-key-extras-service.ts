import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { errors, isCofferError } from '../core/errors.ts';
import { type Storage, WriteRejected } from '../storage/storage-types.ts';
import { keyChange } from './kms-changes.ts';
import type { KeyAttributes, KeyManager, KeyTag } from './kms-extras-types.ts';
import type { KmsExtrasRepo } from './kms-extras-repo.ts';
import type { KmsMetadataCache } from './kms-metadata-cache.ts';
import type { KmsRepo } from './kms-repo.ts';
import type { KmsService } from './kms-service.ts';
import type { CreateKeyInput, CryptoKey, KeyRing, KmsLocation } from './kms-types.ts';

/** A UUID named by `parts` (SHA-256, RFC 9562 version 8): the same parts give the same id on every node. */
export function namedUuid(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The id of the per-region key ring AWS-created keys live in (display name `aws`): one id everywhere. */
export const awsKeyRingId = namedUuid('coffer', 'aws-key-ring');

/** What an AWS-created key carries besides its KMS input. */
export interface NewKeyExtras {
  readonly description?: string;
  readonly policy?: string;
  readonly keyManager?: KeyManager;
  readonly tags?: readonly KeyTag[];
}

const defaultAttributes = (keyUid: string): KeyAttributes => ({
  keyUid,
  description: '',
  policy: null,
  keyManager: 'CUSTOMER',
});

/**
 * Key attributes beyond KMS metadata (issue #18): description, key policy, key manager, tags, and the
 * automatic rotation setting; and the per-region `aws` key ring, made on first use. Callers authorize
 * first. Every change is a `key.updated` change of the key (docs/changes.md).
 */
export class KmsKeyExtrasService {
  readonly #storage: Storage;
  readonly #repo: KmsExtrasRepo;
  readonly #kms: KmsService;
  readonly #kmsRepo: KmsRepo;
  readonly #cache: KmsMetadataCache;
  readonly #clock: Clock;

  constructor(
    storage: Storage,
    repo: KmsExtrasRepo,
    kms: KmsService,
    kmsRepo: KmsRepo,
    cache: KmsMetadataCache,
    clock: Clock,
  ) {
    this.#storage = storage;
    this.#repo = repo;
    this.#kms = kms;
    this.#kmsRepo = kmsRepo;
    this.#cache = cache;
    this.#clock = clock;
  }

  /** The `aws` key ring of a location, created on first use (concurrent first uses make one). */
  async ensureAwsKeyRing(location: KmsLocation): Promise<KeyRing> {
    try {
      return await this.#kms.getKeyRing(location, awsKeyRingId);
    } catch (err) {
      if (!isCofferError(err, 'not_found')) throw err;
    }
    try {
      return await this.#kms.createKeyRing(location, {
        id: awsKeyRingId,
        displayName: 'aws',
        description: 'Keys created through the AWS KMS API.',
      });
    } catch (err) {
      if (!isCofferError(err, 'already_exists')) throw err;
      return this.#kms.getKeyRing(location, awsKeyRingId);
    }
  }

  /** Creates a key in the `aws` key ring with its description, policy and tags. */
  async createKey(location: KmsLocation, input: CreateKeyInput, extras: NewKeyExtras): Promise<CryptoKey> {
    await this.ensureAwsKeyRing(location);
    const key = await this.#kms.createKey(location, awsKeyRingId, input);
    const now = this.#clock.nowMs();
    await this.#storage.write([
      this.#repo.upsertAttributes(
        {
          keyUid: key.uid,
          description: extras.description ?? '',
          policy: extras.policy ?? null,
          keyManager: extras.keyManager ?? 'CUSTOMER',
        },
        now,
      ),
      ...(extras.tags ?? []).map((tag) => this.#repo.putTag(key.uid, tag)),
    ]);
    return key;
  }

  /**
   * The live key with this id in a location: the one in the `aws` key ring, else the first by ring
   * (native key rings may hold keys with AWS-style UUIDs too; ids are unique per ring only).
   */
  async findKeyById(location: KmsLocation, id: string): Promise<CryptoKey | undefined> {
    const rows = await this.#repo.keyUidsById(location, id);
    const row = rows.find((r) => r.keyRingId === awsKeyRingId) ?? rows[0];
    return row ? this.#kms.findKeyByUid(row.uid) : undefined;
  }

  /** Live keys of a location in every key ring, one page by uid (`limit` + 1 tells whether more follow). */
  async listKeys(location: KmsLocation, afterUid: string | undefined, limit: number): Promise<CryptoKey[]> {
    const uids = await this.#repo.liveKeyUids(location, afterUid, limit);
    const keys = await Promise.all(uids.map((uid) => this.#kms.findKeyByUid(uid)));
    return keys.filter((k): k is CryptoKey => k !== undefined);
  }

  /** A key's attributes (the defaults when none were written: keys made through the native API). */
  async attributes(key: CryptoKey): Promise<KeyAttributes> {
    return (await this.#repo.findAttributes(key.uid)) ?? defaultAttributes(key.uid);
  }

  /** The attributes of several keys. */
  async attributesOf(keys: readonly CryptoKey[]): Promise<Map<string, KeyAttributes>> {
    const found = await this.#repo.findAttributesOf(keys.map((k) => k.uid));
    return new Map(keys.map((k) => [k.uid, found.get(k.uid) ?? defaultAttributes(k.uid)]));
  }

  /** Changes a key's description. */
  async setDescription(key: CryptoKey, description: string): Promise<void> {
    await this.#setAttributes(key, { description });
  }

  /** Stores a key policy (JSON text, checked by the caller). */
  async setPolicy(key: CryptoKey, policy: string): Promise<void> {
    await this.#setAttributes(key, { policy });
  }

  /** A key's tags. */
  tags(key: CryptoKey): Promise<KeyTag[]> {
    return this.#repo.listTags(key.uid);
  }

  /** Adds or replaces tags; at most `maxTags` per key (`invalid_argument` beyond). */
  async tag(key: CryptoKey, tags: readonly KeyTag[], maxTags: number): Promise<void> {
    const keys = new Set((await this.#repo.listTags(key.uid)).map((t) => t.key));
    for (const tag of tags) keys.add(tag.key);
    if (keys.size > maxTags) throw errors.invalid(`A key has at most ${maxTags} tags.`);
    await this.#storage.write([
      ...tags.map((tag) => this.#repo.putTag(key.uid, tag)),
      keyChange(this.#storage.db, 'key.updated', key, this.#clock.nowMs()),
    ]);
  }

  /** Removes tags by key. */
  async untag(key: CryptoKey, tagKeys: readonly string[]): Promise<void> {
    await this.#storage.write([
      this.#repo.deleteTags(key.uid, tagKeys),
      keyChange(this.#storage.db, 'key.updated', key, this.#clock.nowMs()),
    ]);
  }

  /**
   * Turns automatic rotation on (every `periodSeconds`, the next one a period from now) or off (null).
   * A compare-and-set on the key row, retried a few times against concurrent changes.
   */
  async setRotation(key: CryptoKey, periodSeconds: number | null): Promise<CryptoKey> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.#kmsRepo.findKeyByUid(key.uid);
      if (!current) throw errors.notFound(`Key ${key.id}`);
      const now = this.#clock.nowMs();
      const changes = {
        rotationPeriodSeconds: periodSeconds,
        nextRotationTimeMs: periodSeconds === null ? null : now + periodSeconds * 1000,
        updateTimeMs: now === current.updateTimeMs ? now + 1 : now,
      };
      try {
        await this.#storage.write([
          this.#kmsRepo.updateKey(current, changes),
          keyChange(this.#storage.db, 'key.updated', current, now),
        ]);
        this.#cache.forget(current);
        return { ...current, ...changes };
      } catch (err) {
        if (!(err instanceof WriteRejected) || attempt >= 4)
          throw err instanceof WriteRejected
            ? errors.conflict('The key was changed concurrently; retry.')
            : err;
      }
    }
  }

  async #setAttributes(key: CryptoKey, changes: Partial<Pick<KeyAttributes, 'description' | 'policy'>>) {
    const attributes = { ...(await this.attributes(key)), ...changes };
    const now = this.#clock.nowMs();
    await this.#storage.write([
      this.#repo.upsertAttributes(attributes, now),
      keyChange(this.#storage.db, 'key.updated', key, now),
    ]);
  }
}
