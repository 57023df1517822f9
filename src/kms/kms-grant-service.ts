import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { errors } from '../core/errors.ts';
import type { Principal } from '../iam/principal.ts';
import { type Storage, WriteRejected } from '../storage/storage-types.ts';
import { keyChange } from './kms-changes.ts';
import type { GrantConstraints, GrantOperation, KmsGrant } from './kms-extras-types.ts';
import { type EncryptionContext, grantAllows, sameGrant } from './kms-grant-fns.ts';
import type { KmsGrantRepo } from './kms-grant-repo.ts';
import type { CryptoKey, KmsLocation } from './kms-types.ts';

/** What a new grant says. */
export interface NewGrant {
  readonly name?: string;
  readonly granteePrincipal: string;
  readonly grantee: Principal;
  readonly retiringPrincipal?: string;
  readonly retiring?: Principal;
  readonly operations: readonly GrantOperation[];
  readonly constraints?: GrantConstraints;
}

function sortedPairs(map: Readonly<Record<string, string>> | undefined) {
  if (map === undefined) return undefined;
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function normalized(constraints: GrantConstraints | undefined): GrantConstraints | null {
  if (!constraints) return null;
  const subset = sortedPairs(constraints.encryptionContextSubset);
  const equals = sortedPairs(constraints.encryptionContextEquals);
  if (!subset && !equals) return null;
  return {
    ...(subset ? { encryptionContextSubset: subset } : {}),
    ...(equals ? { encryptionContextEquals: equals } : {}),
  };
}

/**
 * KMS grants (issue #18): a grant lets its grantee use one key for the listed operations, under
 * encryption-context constraints, without an IAM binding. Callers authorize the creator first (and
 * check that the creator holds what it grants); this stores, lists, retires and answers "does a grant
 * allow this?". Grants take effect at once (no eventual consistency, so grant tokens are not needed).
 */
export class KmsGrantService {
  readonly #storage: Storage;
  readonly #repo: KmsGrantRepo;
  readonly #clock: Clock;

  constructor(storage: Storage, repo: KmsGrantRepo, clock: Clock) {
    this.#storage = storage;
    this.#repo = repo;
    this.#clock = clock;
  }

  /** Creates a grant; a name already used on the key with the same grant returns that grant. */
  async create(key: CryptoKey, input: NewGrant, issuer: Principal): Promise<KmsGrant> {
    const now = this.#clock.nowMs();
    const grant: KmsGrant = {
      id: randomBytes(32).toString('hex'),
      projectId: key.projectId,
      regionId: key.regionId,
      keyUid: key.uid,
      name: input.name ?? null,
      granteePrincipal: input.granteePrincipal,
      grantee: input.grantee,
      retiringPrincipal: input.retiringPrincipal ?? null,
      retiring: input.retiring ?? null,
      operations: [...new Set(input.operations)],
      constraints: normalized(input.constraints),
      issuingPrincipal: issuer,
      createTimeMs: now,
    };
    if (grant.name !== null) {
      const same = (await this.#repo.ofName(key.uid, grant.name)).find((g) => sameGrant(g, grant));
      if (same) return same;
    }
    await this.#storage.write([
      this.#repo.insert(grant),
      keyChange(this.#storage.db, 'key.grants_changed', key, now),
    ]);
    return grant;
  }

  /** One grant of a key; `not_found` when the key has no such grant. */
  async get(key: CryptoKey, grantId: string): Promise<KmsGrant> {
    const grant = await this.#repo.find(grantId);
    if (!grant || grant.keyUid !== key.uid) throw errors.notFound(`Grant ${grantId}`);
    return grant;
  }

  /** A grant by id in a location (RetireGrant by token); `not_found` elsewhere. */
  async find(location: KmsLocation, grantId: string): Promise<KmsGrant | undefined> {
    const grant = await this.#repo.find(grantId);
    if (!grant || grant.projectId !== location.projectId || grant.regionId !== location.regionId)
      return undefined;
    return grant;
  }

  /** Grants of a key, one page (`limit` + 1 rows tell whether more follow). */
  list(
    key: CryptoKey,
    filter: { grantId?: string; grantee?: Principal },
    after: string | undefined,
    limit: number,
  ): Promise<KmsGrant[]> {
    return this.#repo.listOfKey(key.uid, filter, after, limit);
  }

  /** Grants a principal may retire in a location, one page. */
  listRetirable(location: KmsLocation, retiring: Principal, after: string | undefined, limit: number) {
    return this.#repo.listRetirable(location, retiring, after, limit);
  }

  /** Deletes a grant (retire or revoke); `not_found` when it is already gone. */
  async delete(key: CryptoKey, grant: KmsGrant): Promise<void> {
    try {
      await this.#storage.write([
        this.#repo.delete(grant.id),
        keyChange(this.#storage.db, 'key.grants_changed', key, this.#clock.nowMs()),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected) throw errors.notFound(`Grant ${grant.id}`);
      throw err;
    }
  }

  /** The grant that lets `principal` run `operation` on `key` with `context`, if one does. */
  async allowing(
    principal: Principal,
    key: CryptoKey,
    operation: GrantOperation,
    context?: EncryptionContext,
  ): Promise<KmsGrant | undefined> {
    const grants = await this.#repo.ofGrantee(key.uid, principal);
    return grants.find((grant) => grantAllows(grant, operation, context));
  }
}
