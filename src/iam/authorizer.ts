import type { Kysely } from 'kysely';
import { errors } from '../core/errors.ts';
import type { Database } from '../storage/schema.ts';
import { readSystemRecord } from '../storage/system-repo.ts';
import type { Permission } from './permissions.ts';
import type { Principal } from './principal.ts';
import { permissionsOfRole } from './roles.ts';

/** One binding of a policy: a role granted to members. */
export interface PolicyBinding {
  readonly role: string;
  readonly members: readonly string[];
}

/** A policy attached to a resource. */
export interface Policy {
  readonly bindings: readonly PolicyBinding[];
}

/** Name of the system record holding the root resource's policy. */
export const rootPolicyRecord = 'root_policy';

/** True when one of `policies` grants `permission` to `principal`. */
export function policiesGrant(
  policies: readonly Policy[],
  principal: Principal,
  permission: Permission,
): boolean {
  for (const policy of policies) {
    for (const binding of policy.bindings) {
      if (binding.members.includes(principal) && permissionsOfRole(binding.role).includes(permission))
        return true;
    }
  }
  return false;
}

/**
 * The one authorization decision every guarded route goes through. Default deny. Today only the root
 * resource carries a policy (the first admin is roles/owner there); policies on projects and below,
 * inherited down the real parent chain, come with the IAM issue and plug in here.
 */
export class Authorizer {
  readonly #db: Kysely<Database>;
  #rootPolicy: Policy | undefined;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Throws `permission_denied` unless `principal` holds `permission` on `resource`. */
  async check(principal: Principal, permission: Permission, _resource: string): Promise<void> {
    const root = await this.#loadRootPolicy();
    if (!policiesGrant([root], principal, permission)) throw errors.denied();
  }

  /** Forgets cached policies (after a change). */
  invalidate(): void {
    this.#rootPolicy = undefined;
  }

  async #loadRootPolicy(): Promise<Policy> {
    if (this.#rootPolicy) return this.#rootPolicy;
    const json = await readSystemRecord(this.#db, rootPolicyRecord);
    const policy: Policy = json ? (JSON.parse(json) as Policy) : { bindings: [] };
    if (json) this.#rootPolicy = policy;
    return policy;
  }
}
