import type { Clock } from '../core/clock.ts';
import { errors } from '../core/errors.ts';
import type { Binding, IamRepo, StoredPolicy } from './iam-repo.ts';
import type { Permission } from './permissions.ts';
import type { Principal } from './principal.ts';
import { ancestorsOf } from './resource-names.ts';
import { predefinedRolePermissions } from './roles.ts';

const cacheLimit = 100_000;

/**
 * The one authorization decision every guarded route goes through (SPEC §7): default deny; a
 * principal holds a permission on a resource when a binding on the resource or one of its real
 * ancestors grants a role with that permission to it, and the binding's condition has not expired.
 * Policies and custom roles are cached per node; `invalidate` (called on local changes and when the
 * change log moves, see ChangeWatcher) drops the cache, so a revoked grant stops working everywhere
 * within the watcher's interval.
 */
export class Authorizer {
  readonly #repo: IamRepo;
  readonly #clock: Clock;
  #policies = new Map<string, StoredPolicy | null>();
  /** `holdsCached` answered from the cache (hits) or sent the caller to storage (misses); metrics. */
  readonly counts = { hits: 0, misses: 0 };
  #roles = new Map<string, readonly Permission[] | null>();
  // Reads in flight, shared by concurrent misses of the same name (after a change drops the cache,
  // every open change stream checks the same resources at once: one read each, not one per stream).
  // Replaced by invalidate(), so a check that starts after an invalidation never joins a read that
  // began before it.
  #policyReads = new Map<string, Promise<StoredPolicy | null>>();
  #roleReads = new Map<string, Promise<readonly Permission[] | null>>();
  // Bumped by invalidate(): a lookup that started before an invalidation must not fill the new cache.
  #generation = 0;
  // Each resource's ancestor chain (a pure function of the name, so never invalidated): a check
  // does not rebuild it with split/slice/join every time (the change feed checks each change once
  // per subscribed principal).
  #chains = new Map<string, readonly string[] | null>();
  // The node's feed lease (CacheInvalidation.fresh): while it has lapsed nothing is cached or served.
  readonly #fresh: () => boolean;

  constructor(repo: IamRepo, clock: Clock, fresh: () => boolean = () => true) {
    this.#repo = repo;
    this.#clock = clock;
    this.#fresh = fresh;
  }

  /** Throws `permission_denied` unless `principal` holds `permission` on `resource`. */
  async check(principal: Principal, permission: Permission, resource: string): Promise<void> {
    if (!(await this.holds(principal, permission, resource))) throw errors.denied(permission, resource);
  }

  /**
   * Bumped on every invalidation: a decision made under one generation may be reused (the change
   * feed shares one per principal and change among its streams) only while it is still current.
   */
  get generation(): number {
    return this.#generation;
  }

  /** Whether `principal` holds `permission` on `resource`. */
  holds(principal: Principal, permission: Permission, resource: string): Promise<boolean> {
    return this.holdsAny(principal, permission, resource);
  }

  /**
   * Whether `principal` holds at least one of `permissions` (one, or a list) on `resource`: one walk
   * of the ancestor chain, stopping at the first grant, with no per-call sets or arrays, and no
   * await for what is cached.
   */
  async holdsAny(
    principal: Principal,
    permissions: Permission | readonly Permission[],
    resource: string,
  ): Promise<boolean> {
    const chain = this.#chain(resource);
    if (!chain) return false;
    const now = this.#clock.nowMs();
    const fresh = this.#fresh();
    for (const name of chain) {
      const cached = fresh ? this.#policies.get(name) : undefined;
      const policy = cached !== undefined ? cached : await this.#policy(name);
      if (!policy) continue;
      for (const binding of policy.bindings) {
        if (!appliesTo(binding, principal, now)) continue;
        const granted =
          predefinedRolePermissions(binding.role) ?? (await this.#rolePermissions(binding.role));
        if (typeof permissions === 'string') {
          if (granted.includes(permissions)) return true;
        } else {
          for (const permission of permissions) if (granted.includes(permission)) return true;
        }
      }
    }
    return false;
  }

  /**
   * `holds` without a promise when every policy on the chain (and every custom role it grants) is
   * cached, as on the hot path of a guarded request: the same answer `holds` gives, or undefined
   * when something must be read first (then call `holds`).
   */
  holdsCached(principal: Principal, permission: Permission, resource: string): boolean | undefined {
    const held = this.#holdsCached(principal, permission, resource);
    if (held === undefined) this.counts.misses++;
    else this.counts.hits++;
    return held;
  }

  #holdsCached(principal: Principal, permission: Permission, resource: string): boolean | undefined {
    if (!this.#fresh()) return undefined;
    const chain = this.#chain(resource);
    if (!chain) return false;
    const now = this.#clock.nowMs();
    for (const name of chain) {
      const policy = this.#policies.get(name);
      if (policy === undefined) return undefined;
      if (!policy) continue;
      for (const binding of policy.bindings) {
        if (!appliesTo(binding, principal, now)) continue;
        const granted = predefinedRolePermissions(binding.role) ?? this.#roles.get(binding.role);
        if (granted === undefined) return undefined;
        if (granted?.includes(permission)) return true;
      }
    }
    return false;
  }

  /**
   * Which of `permissions` `principal` holds on `resource` (`iam:test-permissions`); with
   * `unconditionalOnly`, only bindings without a condition count (what a caller may grant on).
   */
  async held(
    principal: Principal,
    permissions: readonly Permission[],
    resource: string,
    options: { readonly unconditionalOnly?: boolean } = {},
  ): Promise<Permission[]> {
    const chain = this.#chain(resource);
    if (!chain) return [];
    const wanted = new Set(permissions);
    const found = new Set<Permission>();
    const now = this.#clock.nowMs();
    for (const name of chain) {
      const policy = await this.#policy(name);
      if (!policy) continue;
      for (const binding of policy.bindings) {
        if (!appliesTo(binding, principal, now)) continue;
        if (options.unconditionalOnly && binding.condition) continue;
        for (const permission of await this.#rolePermissions(binding.role)) {
          if (wanted.has(permission)) found.add(permission);
        }
      }
      if (found.size === wanted.size) break;
    }
    return permissions.filter((permission) => found.has(permission));
  }

  /**
   * Until when `principal` holds every one of `permissions` on `resource`: each permission through
   * the binding that lasts longest (`Infinity` when one is unconditional), and the earliest of those;
   * undefined when one is not held now. A credential minted with them must expire by then.
   */
  async heldUntil(
    principal: Principal,
    permissions: readonly Permission[],
    resource: string,
  ): Promise<number | undefined> {
    const chain = ancestorsOf(resource);
    if (!chain) return undefined;
    const until = new Map<Permission, number>();
    const now = this.#clock.nowMs();
    for (const name of chain) {
      for (const binding of (await this.#policy(name))?.bindings ?? []) {
        if (!appliesTo(binding, principal, now)) continue;
        const expiresAt = binding.condition?.expiresAtMs ?? Number.POSITIVE_INFINITY;
        for (const permission of await this.#rolePermissions(binding.role)) {
          if (permissions.includes(permission))
            until.set(permission, Math.max(until.get(permission) ?? 0, expiresAt));
        }
      }
    }
    if (!permissions.every((p) => until.has(p))) return undefined;
    return Math.min(...permissions.map((p) => until.get(p)!));
  }

  /** Whether `principal` is granted one of `roles` on `resource` or an ancestor (seed 002's service-account rule). */
  async hasRole(principal: Principal, roles: readonly string[], resource: string): Promise<boolean> {
    const chain = ancestorsOf(resource);
    if (!chain) return false;
    const now = this.#clock.nowMs();
    for (const name of chain) {
      const policy = await this.#policy(name);
      if (policy?.bindings.some((b) => roles.includes(b.role) && appliesTo(b, principal, now))) return true;
    }
    return false;
  }

  #chain(resource: string): readonly string[] | null {
    let chain = this.#chains.get(resource);
    if (chain === undefined) {
      chain = ancestorsOf(resource) ?? null;
      if (this.#chains.size >= cacheLimit) this.#chains.clear();
      this.#chains.set(resource, chain);
    }
    return chain;
  }

  /** Drops every cached policy and role. */
  invalidate(): void {
    this.#generation++;
    this.#policies = new Map();
    this.#roles = new Map();
    this.#policyReads = new Map();
    this.#roleReads = new Map();
  }

  async #policy(resource: string): Promise<StoredPolicy | null> {
    const cached = this.#policies.get(resource);
    if (cached !== undefined && this.#fresh()) return cached;
    return this.#readOnce(
      this.#policyReads,
      this.#policies,
      resource,
      async () => (await this.#repo.findPolicy(resource)) ?? null,
    );
  }

  async #rolePermissions(role: string): Promise<readonly Permission[]> {
    const predefined = predefinedRolePermissions(role);
    if (predefined) return predefined;
    const cached = this.#roles.get(role);
    if (cached !== undefined && this.#fresh()) return cached ?? [];
    const custom = await this.#readOnce(
      this.#roleReads,
      this.#roles,
      role,
      async () => (await this.#repo.findRole(role))?.permissions ?? null,
    );
    return custom ?? [];
  }

  /**
   * Reads `key` once however many callers miss it together (they share `reads`' promise), and
   * caches the result unless an invalidation happened meanwhile: a read that began before it is
   * used for the decisions that asked, never cached as fresh.
   */
  #readOnce<T>(
    reads: Map<string, Promise<T>>,
    cache: Map<string, T>,
    key: string,
    read: () => Promise<T>,
  ): Promise<T> {
    const running = reads.get(key);
    if (running) return running;
    const generation = this.#generation;
    const reading = read()
      .then((value) => {
        if (generation === this.#generation && this.#fresh()) {
          if (cache.size >= cacheLimit) cache.clear();
          cache.set(key, value);
        }
        return value;
      })
      .finally(() => {
        if (reads.get(key) === reading) reads.delete(key);
      });
    reads.set(key, reading);
    return reading;
  }
}

function appliesTo(binding: Binding, principal: Principal, nowMs: number): boolean {
  if (!binding.members.includes(principal)) return false;
  const expiresAt = binding.condition?.expiresAtMs;
  return expiresAt === undefined || nowMs < expiresAt;
}
