import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { clampPageSize, decodePageToken, type Page, toPage } from '../core/pagination.ts';
import { type Storage, WriteRejected } from '../storage/storage-types.ts';
import type { Authorizer } from './authorizer.ts';
import type { Binding, CustomRole, IamRepo, ServiceAccount } from './iam-repo.ts';
import { allPermissions, type Permission } from './permissions.ts';
import { emailPattern, initialAdminPrincipal, isReservedUserEmail, type Principal } from './principal.ts';
import { acceptsPolicy, projectOf, rootResource } from './resource-names.ts';
import { newlyGrantedRoles, reducedMembers } from './policy-grants.ts';
import { predefinedRolePermissions } from './roles.ts';
import type { TokenService } from './token-service.ts';

/** The etag of a resource that has no policy yet. */
export const emptyPolicyEtag = 'AAAAAAAAAAAA';

/** A policy as the API shows and takes it. */
export interface PolicyView {
  readonly bindings: readonly Binding[];
  readonly etag: string;
}

const accountNamePattern = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const roleIdPattern = /^[A-Za-z][A-Za-z0-9_.]{2,63}$/;

/** What minting a service account's token needs on the account (the route's guard checks them too). */
const tokenMintPermissions: readonly Permission[] = [
  'iam.service_account_tokens.create',
  'iam.service_accounts.act_as',
];

/**
 * Policies (get, set with etag, add and remove one binding), custom roles, service accounts and
 * their tokens. Callers are authorized before they get here; this validates
 * input (unknown roles or members, duplicate bindings, stale etags) and records every change in the
 * change log so every node drops its cached decisions.
 */
export class IamService {
  readonly #storage: Storage;
  readonly #repo: IamRepo;
  readonly #authorizer: Authorizer;
  readonly #tokens: TokenService;
  readonly #clock: Clock;

  constructor(storage: Storage, repo: IamRepo, authorizer: Authorizer, tokens: TokenService, clock: Clock) {
    this.#storage = storage;
    this.#repo = repo;
    this.#authorizer = authorizer;
    this.#tokens = tokens;
    this.#clock = clock;
  }

  /** The policy of a resource (empty with a fixed etag when none was set). */
  async getPolicy(resource: string): Promise<PolicyView> {
    const policy = await this.#repo.findPolicy(resource);
    return policy
      ? { bindings: policy.bindings, etag: policy.etag }
      : { bindings: [], etag: emptyPolicyEtag };
  }

  /**
   * Replaces a policy; `conflict` when `etag` is given and stale. No escalation: every role the
   * change newly grants must be one whose permissions the caller itself holds on the resource, so
   * holding `iam.policies.set` somewhere never yields more than one already has there.
   */
  async setPolicy(
    resource: string,
    bindings: readonly Binding[],
    etag: string | undefined,
    caller: Principal,
  ): Promise<PolicyView> {
    if (!acceptsPolicy(resource))
      throw errors.invalid(
        'Policies attach to the root, projects, key rings, keys, instances, secrets, databases, database roles and service accounts.',
      );
    const clean = await this.#validateBindings(resource, bindings);
    const current = await this.#repo.findPolicy(resource);
    const currentEtag = current?.etag ?? emptyPolicyEtag;
    if (etag !== undefined && etag !== currentEtag)
      throw errors.conflict('The etag does not match the policy’s current etag.');
    await this.#refuseEscalation(resource, current?.bindings ?? [], clean, caller);
    const now = this.#clock.nowMs();
    const next = { resource, bindings: clean, etag: randomBytes(9).toString('base64url'), updateTimeMs: now };
    const projectId = projectOf(resource);
    try {
      await this.#storage.write([
        current ? this.#repo.updatePolicy(next, current.etag) : this.#repo.insertPolicy(next, projectId),
        // Members who lose a grant may lose sight of the resource: they are told all the same.
        this.#repo.recordChange('iam.policy_changed', resource, projectId, now, caller, {
          members: reducedMembers(current?.bindings ?? [], clean),
        }),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected)
        throw errors.conflict('The policy was changed concurrently; read it again.');
      throw err;
    }
    this.#authorizer.invalidate();
    return { bindings: next.bindings, etag: next.etag };
  }

  /** Adds one member to a role binding (with the same condition), creating the binding if needed. */
  async addBinding(
    resource: string,
    role: string,
    member: string,
    condition: Binding['condition'] | undefined,
    caller: Principal,
  ): Promise<PolicyView> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.getPolicy(resource);
      const bindings = current.bindings.map((b) => ({ ...b, members: [...b.members] }));
      const match = bindings.find((b) => b.role === role && sameCondition(b.condition, condition));
      if (match?.members.includes(member)) return current;
      if (match) match.members.push(member);
      else bindings.push({ role, members: [member], ...(condition ? { condition } : {}) });
      try {
        return await this.setPolicy(resource, bindings, current.etag, caller);
      } catch (err) {
        if (!(err instanceof CofferError && err.code === 'conflict') || attempt >= 4) throw err;
      }
    }
  }

  /** Removes one member from a role binding (any condition); removing an absent member changes nothing. */
  async removeBinding(
    resource: string,
    role: string,
    member: string,
    caller: Principal,
  ): Promise<PolicyView> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.getPolicy(resource);
      if (!current.bindings.some((b) => b.role === role && b.members.includes(member))) return current;
      const bindings = current.bindings
        .map((b) => (b.role === role ? { ...b, members: b.members.filter((m) => m !== member) } : b))
        .filter((b) => b.members.length > 0);
      try {
        return await this.setPolicy(resource, bindings, current.etag, caller);
      } catch (err) {
        if (!(err instanceof CofferError && err.code === 'conflict') || attempt >= 4) throw err;
      }
    }
  }

  /** Which of `permissions` the caller holds on `resource`; unknown permission names are refused. */
  async testPermissions(
    principal: Principal,
    resource: string,
    permissions: readonly string[],
  ): Promise<Permission[]> {
    const known = new Set<string>(allPermissions);
    const unknown = permissions.find((p) => !known.has(p));
    if (unknown) throw errors.invalid(`Unknown permission ${unknown}.`);
    return this.#authorizer.held(principal, permissions as Permission[], resource);
  }

  /** Creates a custom role `projects/{p}/roles/{roleId}`. */
  async createRole(
    projectId: string,
    roleId: string,
    title: string,
    permissions: readonly string[],
  ): Promise<CustomRole> {
    if (!roleIdPattern.test(roleId))
      throw errors.invalid('roleId must be 3–64 letters, digits, dots or underscores.');
    const known = new Set<string>(allPermissions);
    const unknown = permissions.find((p) => !known.has(p));
    if (unknown) throw errors.invalid(`Unknown permission ${unknown}.`);
    if (permissions.length === 0) throw errors.invalid('A role needs at least one permission.');
    const role: CustomRole = {
      name: `projects/${projectId}/roles/${roleId}`,
      projectId,
      title,
      permissions: [...new Set(permissions)] as Permission[],
      createTimeMs: this.#clock.nowMs(),
    };
    await this.#insert([this.#repo.insertRole(role)], `Role ${role.name}`);
    return role;
  }

  /** Custom roles of a project. */
  listRoles(projectId: string): Promise<CustomRole[]> {
    return this.#repo.listRoles(projectId);
  }

  /** Creates a service account; its email defaults to `{name}@{projectId}.iam.coffer.internal`. */
  async createServiceAccount(
    projectId: string,
    name: string,
    email: string | undefined,
    displayName: string | undefined,
  ): Promise<ServiceAccount> {
    if (!accountNamePattern.test(name))
      throw errors.invalid('name must be 6–30 lowercase letters, digits or hyphens, starting with a letter.');
    const address = email ?? `${name}@${projectId}.iam.coffer.internal`;
    // The internal domain names its project: nobody may take another project's address.
    if (address.endsWith('.iam.coffer.internal') && address !== `${name}@${projectId}.iam.coffer.internal`) {
      throw errors.invalid(
        `An email under iam.coffer.internal must be ${name}@${projectId}.iam.coffer.internal.`,
      );
    }
    if (!emailPattern.test(address)) throw errors.invalid('email is not a valid address.');
    const account: ServiceAccount = {
      email: address,
      projectId,
      name,
      displayName: displayName ?? '',
      disabled: false,
      createTimeMs: this.#clock.nowMs(),
    };
    await this.#insert([this.#repo.insertServiceAccount(account)], `Service account ${address}`);
    return account;
  }

  /** One service account of a project; `not_found` otherwise (including one of another project). */
  async getServiceAccount(projectId: string, email: string): Promise<ServiceAccount> {
    const account = await this.#repo.findServiceAccount(email);
    if (!account || account.projectId !== projectId) throw errors.notFound(`Service account ${email}`);
    return account;
  }

  /** A page of a project's service accounts. */
  async listServiceAccounts(
    projectId: string,
    pageSize?: number,
    pageToken?: string,
  ): Promise<Page<ServiceAccount>> {
    const size = clampPageSize(pageSize);
    const rows = await this.#repo.listServiceAccounts(projectId, decodePageToken(pageToken), size + 1);
    return toPage(rows, size, (a) => a.email);
  }

  /** Disables or enables a service account; disabling revokes its access at once, on every node. */
  async setServiceAccountDisabled(
    projectId: string,
    email: string,
    disabled: boolean,
  ): Promise<ServiceAccount> {
    const account = await this.getServiceAccount(projectId, email);
    const now = this.#clock.nowMs();
    await this.#storage.write([
      this.#repo.setServiceAccountDisabled(email, disabled),
      this.#repo.recordChange(
        disabled ? 'iam.service_account.disable' : 'iam.service_account.enable',
        `projects/${projectId}/service-accounts/${email}`,
        projectId,
        now,
      ),
    ]);
    this.#tokens.invalidate();
    return { ...account, disabled };
  }

  /**
   * Issues an API token for a service account (shown once). A caller holding the permissions to mint
   * it only through time-bound bindings gets a token that expires when they do: a token must not
   * outlive the grant that made it.
   */
  async createToken(projectId: string, email: string, ttlSeconds: number | undefined, caller: Principal) {
    await this.getServiceAccount(projectId, email);
    const account = `projects/${projectId}/service-accounts/${email}`;
    const heldUntil = await this.#authorizer.heldUntil(caller, tokenMintPermissions, account);
    if (heldUntil === undefined) throw errors.denied('iam.service_accounts.act_as', account);
    const now = this.#clock.nowMs();
    const issued = await this.#tokens.issue(`serviceAccount:${email}` as Principal, ttlSeconds, heldUntil);
    return { id: issued.id, token: issued.token, createTimeMs: now, expireTimeMs: issued.expireTimeMs };
  }

  /** A service account's live tokens (ids and times only). */
  async listTokens(projectId: string, email: string) {
    await this.getServiceAccount(projectId, email);
    return this.#repo.listTokens(`serviceAccount:${email}`);
  }

  /** Revokes a token; it stops working at once, on every node. */
  async revokeToken(projectId: string, email: string, tokenId: string): Promise<void> {
    await this.getServiceAccount(projectId, email);
    try {
      await this.#storage.write([
        this.#repo.revokeToken(`serviceAccount:${email}`, tokenId),
        this.#repo.recordChange(
          'iam.token.revoke',
          `projects/${projectId}/service-accounts/${email}`,
          projectId,
          this.#clock.nowMs(),
        ),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected) throw errors.notFound(`Token ${tokenId}`);
      throw err;
    }
    this.#tokens.invalidate();
  }

  /** Whether a principal exists and is enabled (for policy members). */
  async memberExists(member: string): Promise<boolean> {
    const [kind, email] = member.split(/:(.*)/s) as [string, string | undefined];
    if (!email) return false;
    // The first admin is a token-only user without a row.
    if (kind === 'user')
      return (
        member === initialAdminPrincipal ||
        (!isReservedUserEmail(email) && (await this.#repo.findUser(email)) !== undefined)
      );
    if (kind === 'serviceAccount') return (await this.#repo.findServiceAccount(email)) !== undefined;
    return false;
  }

  async #validateBindings(resource: string, bindings: readonly Binding[]): Promise<Binding[]> {
    const projectId = projectOf(resource);
    const seen = new Set<string>();
    const clean: Binding[] = [];
    for (const binding of bindings) {
      if (!(await this.#roleExists(binding.role, projectId)))
        throw errors.invalid(`Unknown role ${binding.role}.`);
      if (binding.members.length === 0)
        throw errors.invalid(`The binding of ${binding.role} has no members.`);
      const key = `${binding.role}|${binding.condition?.title ?? ''}|${binding.condition?.expiresAtMs ?? ''}`;
      if (seen.has(key))
        throw errors.invalid(`Role ${binding.role} appears in two bindings with the same condition.`);
      seen.add(key);
      const members = [...new Set(binding.members)];
      for (const member of members) {
        if (!(await this.memberExists(member))) throw errors.invalid(`Unknown member ${member}.`);
      }
      clean.push({
        role: binding.role,
        members,
        ...(binding.condition ? { condition: binding.condition } : {}),
      });
    }
    if (
      resource === rootResource &&
      !clean.some((b) => b.role === 'roles/owner' && b.members.length > 0 && !b.condition)
    ) {
      throw errors.invalid('The root policy must keep at least one unconditional roles/owner member.');
    }
    return clean;
  }

  async #refuseEscalation(
    resource: string,
    before: readonly Binding[],
    after: readonly Binding[],
    caller: Principal,
  ): Promise<void> {
    // Only what the caller holds now, unconditionally, here: an expired or time-bound grant of its
    // own never lets it grant (or extend, or uncondition) a role.
    for (const role of newlyGrantedRoles(before, after, this.#clock.nowMs())) {
      const permissions =
        predefinedRolePermissions(role) ?? (await this.#repo.findRole(role))?.permissions ?? [];
      const held = await this.#authorizer.held(caller, permissions, resource, { unconditionalOnly: true });
      if (held.length < new Set(permissions).size) {
        throw new CofferError(
          'permission_denied',
          `Granting ${role} on ${resource} needs every permission it holds there, unconditionally; the caller lacks some.`,
        );
      }
    }
  }

  async #roleExists(role: string, projectId: string | undefined): Promise<boolean> {
    if (predefinedRolePermissions(role)) return true;
    const match = /^projects\/([^/]+)\/roles\/[^/]+$/.exec(role);
    if (!match || match[1] !== projectId) return false;
    return (await this.#repo.findRole(role)) !== undefined;
  }

  async #insert(statements: Parameters<Storage['write']>[0], what: string): Promise<void> {
    try {
      await this.#storage.write(statements);
    } catch (err) {
      if (err instanceof WriteRejected && err.reason === 'unique') throw errors.alreadyExists(what);
      throw err;
    }
  }
}

function sameCondition(a: Binding['condition'], b: Binding['condition']): boolean {
  return (a?.title ?? '') === (b?.title ?? '') && a?.expiresAtMs === b?.expiresAtMs;
}
