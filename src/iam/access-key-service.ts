import { randomBytes } from 'node:crypto';
import type { Barrier } from '../barrier/barrier.ts';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { clampPageSize, decodePageToken, type Page, toPage } from '../core/pagination.ts';
import { type Storage, WriteRejected } from '../storage/storage-types.ts';
import type { AccessKeyRepo, AccessKeyRow } from './access-key-repo.ts';
import type { Authorizer } from './authorizer.ts';
import type { IamRepo } from './iam-repo.ts';
import { allPermissions, type Permission } from './permissions.ts';
import type { Principal } from './principal.ts';

/** What minting (or reviving) a service account's access key needs on the account. */
const mintPermissions: readonly Permission[] = ['iam.access_keys.create', 'iam.service_accounts.act_as'];
const enablePermissions: readonly Permission[] = ['iam.access_keys.enable', 'iam.service_accounts.act_as'];

/** An access key as the API shows it (never its secret). */
export interface AccessKey {
  readonly accessKeyId: string;
  readonly principal: string;
  readonly projectId: string;
  readonly disabled: boolean;
  readonly createTimeMs: number;
}

/** A created key and its secret, handed out once. */
export interface CreatedAccessKey {
  readonly key: AccessKey;
  readonly secretAccessKey: string;
}

/** Who an access key id stands for, with the secret SigV4 verification needs. */
export interface AwsIdentity {
  readonly accessKeyId: string;
  readonly principal: Principal;
  readonly projectId: string;
  readonly secretAccessKey: string;
}

/** What the service is built from. */
export interface AccessKeyServiceDeps {
  readonly storage: Storage;
  readonly repo: AccessKeyRepo;
  readonly iamRepo: IamRepo;
  readonly authorizer: Authorizer;
  readonly barrier: Barrier;
  readonly clock: Clock;
  /** Whether a principal exists and is enabled (the token service's rule). */
  readonly principalEnabled: (principal: string) => Promise<boolean>;
  /** Whether a project exists. */
  readonly projectExists: (projectId: string) => Promise<boolean>;
}

const base32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `AKIA` and 16 base32 characters (80 random bits), AWS's form of a long-term access key id. */
function newAccessKeyId(): string {
  const bytes = randomBytes(10);
  let bits = 0;
  let value = 0;
  let out = 'AKIA';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += base32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** The form of an access key id (anything else is never looked up). */
export const accessKeyIdPattern = /^AKIA[A-Z2-7]{16}$/;

const cacheLimit = 100_000;

function sealContext(id: string): string {
  return `iam/access-key/${id}`;
}

function view(row: AccessKeyRow): AccessKey {
  return {
    accessKeyId: row.id,
    principal: row.principal,
    projectId: row.projectId,
    disabled: row.disabled,
    createTimeMs: row.createTimeMs,
  };
}

/**
 * AWS access keys (issue 18): an id and a secret that SigV4 signs with, belonging to a principal
 * (a service account, or a user) and bound to one project. The secret is handed out once and stored
 * sealed by the root key (SigV4 needs it, not a hash). Identities are cached per node with their
 * principal's state and dropped whenever tokens are (a local disable, or the change feed moving),
 * so a disabled key, service account or user is refused at once on this node and within the feed's
 * interval on the others.
 */
export class AccessKeyService {
  readonly #deps: AccessKeyServiceDeps;
  #cache = new Map<string, AwsIdentity | null>();
  #generation = 0;
  #fresh: () => boolean = () => true;

  constructor(deps: AccessKeyServiceDeps) {
    this.#deps = deps;
  }

  /** Serves cached identities only while `fresh()` (the node's feed lease). */
  serveWithin(fresh: () => boolean): void {
    this.#fresh = fresh;
  }

  /**
   * Creates an access key for a service account of `projectId`. The caller needs
   * `iam.access_keys.create` and `iam.service_accounts.act_as` on the account, unconditionally: an
   * access key never expires, so a caller holding them only through time-bound bindings is refused.
   */
  async createForServiceAccount(
    projectId: string,
    email: string,
    caller: Principal,
  ): Promise<CreatedAccessKey> {
    const resource = await this.#account(projectId, email);
    await this.#requireUnbounded(caller, mintPermissions, resource);
    return this.#create(`serviceAccount:${email}`, projectId, resource, caller);
  }

  /**
   * Creates an access key of the calling user, acting in `projectId`. The key carries exactly the
   * user's own rights; only the user may mint one, and only for a project in which it holds some
   * permission through a binding on the project or the root (docs/aws.md): the answer names the
   * project's AWS account, which a stranger must not learn. A project the caller holds nothing in
   * answers `not_found`, like a missing one.
   */
  async createOwn(caller: Principal, projectId: string): Promise<CreatedAccessKey> {
    if (!caller.startsWith('user:'))
      throw errors.invalid(
        'Service accounts get access keys through /v2/projects/{projectId}/service-accounts/{email}/access-keys.',
      );
    const member = await this.#deps.authorizer.holdsAny(caller, allPermissions, `projects/${projectId}`);
    if (!member || !(await this.#deps.projectExists(projectId)))
      throw errors.notFound(`Project ${projectId}`);
    return this.#create(caller, projectId, userResource(caller), caller);
  }

  /** A page of a principal's keys (never their secrets). */
  async list(principal: string, pageSize?: number, pageToken?: string): Promise<Page<AccessKey>> {
    const size = clampPageSize(pageSize);
    const rows = await this.#deps.repo.list(principal, decodePageToken(pageToken), size + 1);
    return toPage(rows.map(view), size, (k) => k.accessKeyId);
  }

  /** A page of a service account's keys; `not_found` when the account is not in the project. */
  async listForServiceAccount(
    projectId: string,
    email: string,
    pageSize?: number,
    pageToken?: string,
  ): Promise<Page<AccessKey>> {
    await this.#account(projectId, email);
    return this.list(`serviceAccount:${email}`, pageSize, pageToken);
  }

  /**
   * Disables or enables a key of a service account. Enabling revives a credential, so it needs
   * `iam.access_keys.enable` and act_as, unconditionally, like minting one.
   */
  async setServiceAccountKeyDisabled(
    projectId: string,
    email: string,
    accessKeyId: string,
    disabled: boolean,
    caller: Principal,
  ): Promise<AccessKey> {
    const resource = await this.#account(projectId, email);
    if (!disabled) await this.#requireUnbounded(caller, enablePermissions, resource);
    return this.setDisabled(`serviceAccount:${email}`, accessKeyId, disabled, caller, resource);
  }

  /** Deletes a key of a service account. */
  async deleteServiceAccountKey(
    projectId: string,
    email: string,
    accessKeyId: string,
    caller: Principal,
  ): Promise<void> {
    const resource = await this.#account(projectId, email);
    await this.delete(`serviceAccount:${email}`, accessKeyId, caller, resource);
  }

  /**
   * Disables or enables one of the caller's own keys. A user may enable its own key (to cut a user
   * off, disable the user); a service account's key is enabled only by someone holding act_as on it
   * (`setServiceAccountKeyDisabled`), never by the account itself: a short-lived token of the
   * account must not revive a credential that never expires.
   */
  async setOwnDisabled(caller: Principal, accessKeyId: string, disabled: boolean): Promise<AccessKey> {
    if (!disabled && !caller.startsWith('user:'))
      throw errors.invalid(
        'A service account’s access key is enabled through /v2/projects/{projectId}/service-accounts/{email}/access-keys/{accessKeyId}/enable (needs act_as).',
      );
    return this.setDisabled(caller, accessKeyId, disabled, caller);
  }

  /** Disables or enables a key of `principal`; `not_found` when it has no such key. */
  async setDisabled(
    principal: string,
    accessKeyId: string,
    disabled: boolean,
    caller: Principal,
    resource = userResource(principal),
  ): Promise<AccessKey> {
    const row = await this.#own(principal, accessKeyId);
    const { repo, iamRepo, clock } = this.#deps;
    await this.#change(accessKeyId, [
      repo.setDisabled(principal, accessKeyId, disabled),
      iamRepo.recordChange(
        disabled ? 'iam.access_key.disable' : 'iam.access_key.enable',
        resource,
        row.projectId,
        clock.nowMs(),
        caller,
      ),
    ]);
    return { ...view(row), disabled };
  }

  /** Deletes a key of `principal`; `not_found` when it has no such key. */
  async delete(
    principal: string,
    accessKeyId: string,
    caller: Principal,
    resource = userResource(principal),
  ): Promise<void> {
    const row = await this.#own(principal, accessKeyId);
    const { repo, iamRepo, clock } = this.#deps;
    await this.#change(accessKeyId, [
      repo.delete(principal, accessKeyId),
      iamRepo.recordChange('iam.access_key.delete', resource, row.projectId, clock.nowMs(), caller),
    ]);
  }

  /**
   * The identity of a usable key (enabled, its principal enabled) from this node's cache: the
   * identity, `null` when the key is unknown or unusable, undefined when it must be looked up.
   */
  identifyCached(accessKeyId: string): AwsIdentity | null | undefined {
    if (!this.#fresh()) return undefined;
    return this.#cache.get(accessKeyId);
  }

  /** The identity of a usable key, or null (unknown, disabled, or its principal disabled or gone). */
  async identify(accessKeyId: string): Promise<AwsIdentity | null> {
    const cached = this.identifyCached(accessKeyId);
    if (cached !== undefined) return cached;
    if (!accessKeyIdPattern.test(accessKeyId)) return null;
    const generation = this.#generation;
    const row = await this.#deps.repo.find(accessKeyId);
    let identity: AwsIdentity | null = null;
    if (row && !row.disabled && (await this.#deps.principalEnabled(row.principal))) {
      const secret = this.#deps.barrier.decrypt(row.secretSealed, sealContext(row.id));
      identity = {
        accessKeyId: row.id,
        principal: row.principal as Principal,
        projectId: row.projectId,
        secretAccessKey: secret.toString('utf8'),
      };
      secret.fill(0);
    }
    // A lookup that straddled an invalidation decides this once but is never cached.
    if (generation === this.#generation && this.#fresh()) {
      if (this.#cache.size >= cacheLimit) this.#cache.clear();
      this.#cache.set(accessKeyId, identity);
    }
    return identity;
  }

  /** Drops every cached identity (with the token cache: disables, revocations, the feed moving, seal). */
  invalidate(): void {
    this.#generation++;
    this.#cache = new Map();
  }

  async #create(
    principal: string,
    projectId: string,
    resource: string,
    caller: Principal,
  ): Promise<CreatedAccessKey> {
    const { repo, iamRepo, clock, barrier, storage } = this.#deps;
    const id = newAccessKeyId();
    const secret = randomBytes(30).toString('base64');
    const now = clock.nowMs();
    const row: AccessKeyRow = {
      id,
      principal,
      projectId,
      secretSealed: barrier.encrypt(Buffer.from(secret, 'utf8'), sealContext(id)),
      disabled: false,
      createTimeMs: now,
    };
    await storage.write([
      repo.insert(row),
      iamRepo.recordChange('iam.access_key.create', resource, projectId, now, caller),
    ]);
    // A lookup of this id before it existed is cached as unknown: drop it.
    this.invalidate();
    return { key: view(row), secretAccessKey: secret };
  }

  async #own(principal: string, accessKeyId: string): Promise<AccessKeyRow> {
    const row = accessKeyIdPattern.test(accessKeyId) ? await this.#deps.repo.find(accessKeyId) : undefined;
    if (!row || row.principal !== principal) throw errors.notFound(`Access key ${accessKeyId}`);
    return row;
  }

  async #account(projectId: string, email: string): Promise<string> {
    const account = await this.#deps.iamRepo.findServiceAccount(email);
    if (!account || account.projectId !== projectId) throw errors.notFound(`Service account ${email}`);
    return `projects/${projectId}/service-accounts/${email}`;
  }

  async #requireUnbounded(
    caller: Principal,
    permissions: readonly Permission[],
    resource: string,
  ): Promise<void> {
    const heldUntil = await this.#deps.authorizer.heldUntil(caller, permissions, resource);
    if (heldUntil === undefined) throw errors.denied('iam.service_accounts.act_as', resource);
    if (heldUntil !== Number.POSITIVE_INFINITY)
      throw new CofferError(
        'permission_denied',
        `An access key never expires: minting or enabling one needs ${permissions.join(' and ')} on ${resource} through bindings without an expiry.`,
      );
  }

  async #change(accessKeyId: string, statements: Parameters<Storage['write']>[0]): Promise<void> {
    try {
      await this.#deps.storage.write(statements);
    } catch (err) {
      if (err instanceof WriteRejected) throw errors.notFound(`Access key ${accessKeyId}`);
      throw err;
    }
    this.invalidate();
  }
}

/** The resource a user's access keys are recorded under in the change feed. */
function userResource(principal: string): string {
  return `users/${principal.slice(principal.indexOf(':') + 1)}`;
}
