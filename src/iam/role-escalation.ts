import { allPermissions, type Permission } from './permissions.ts';

/**
 * A way to obtain another principal: holding every permission in `needs` on a resource yields a
 * credential of some principal whose rights may be up to `yields`. The routes that hand out
 * credentials declare exactly these permissions (the authorization matrix test checks that).
 */
export interface PrincipalSource {
  /** What the source is (for messages). */
  readonly what: string;
  /** The route that hands out the credential, as `METHOD url`. */
  readonly route: string;
  /** Permissions the route needs, together, on one resource. */
  readonly needs: readonly Permission[];
  /** The most the obtained principal may hold. */
  readonly yields: readonly Permission[];
  /**
   * The service, not the route's guard, checks `iam.service_accounts.act_as` on the account the body
   * names (a different resource than the URL's).
   */
  readonly actAsInService?: true;
  /**
   * Only the principal whose credential it is may obtain it (the root token): nobody gains anything,
   * so the closure skips it.
   */
  readonly selfOnly?: true;
  /**
   * What a caller holding some of `needs` only through time-bound bindings gets, so that no
   * credential outlives the grant that yielded it: `capped` (the credential expires when the earliest
   * of those bindings does) or `refused`. Required unless `selfOnly` or `yields` is empty.
   */
  readonly timeBound?: 'capped' | 'refused';
}

/**
 * Every route that yields a credential of a principal other than the caller, or the use of one's
 * rights (an instance acting as its kmsKey service account). A service account may be granted any
 * role by someone, so a token for one may carry every permission; the root token is the first
 * admin's (roles/owner on the root), and only the first admin may rotate it. Granting roles
 * (`iam.policies.set`) is absent: the service lets a caller grant only what it holds,
 * unconditionally, where it grants it.
 */
export const principalSources: readonly PrincipalSource[] = [
  {
    what: 'a service account token',
    route: 'POST /v2/projects/:projectId/service-accounts/:email/tokens',
    needs: ['iam.service_account_tokens.create', 'iam.service_accounts.act_as'],
    yields: allPermissions,
    timeBound: 'capped',
  },
  {
    // The key file's holder exchanges assertions for the account's tokens (POST /v2/auth/token)
    // until the key is disabled, deleted or expires.
    what: 'a service account key',
    route: 'POST /v2/projects/:projectId/service-accounts/:email/keys',
    needs: ['iam.service_account_keys.create', 'iam.service_accounts.act_as'],
    yields: allPermissions,
    timeBound: 'capped',
  },
  {
    // Enabling a disabled key revives a key file someone may still hold (leaked, or made while its
    // holder had act_as): the same credential as creating one.
    what: 'a re-enabled service account key',
    route: 'POST /v2/projects/:projectId/service-accounts/:email/keys/:keyId/enable',
    needs: ['iam.service_account_keys.enable', 'iam.service_accounts.act_as'],
    yields: allPermissions,
    timeBound: 'capped',
  },
  {
    // An AWS access key signs requests as the account (SigV4) until it is disabled or deleted. It
    // never expires, so a caller holding these only through time-bound bindings is refused.
    what: 'a service account AWS access key',
    route: 'POST /v2/projects/:projectId/service-accounts/:email/access-keys',
    needs: ['iam.access_keys.create', 'iam.service_accounts.act_as'],
    yields: allPermissions,
    timeBound: 'refused',
  },
  {
    what: 'a re-enabled service account AWS access key',
    route: 'POST /v2/projects/:projectId/service-accounts/:email/access-keys/:accessKeyId/enable',
    needs: ['iam.access_keys.enable', 'iam.service_accounts.act_as'],
    yields: allPermissions,
    timeBound: 'refused',
  },
  {
    // An instance whose kmsKey names a service account uses that account's rights on its key.
    what: 'an instance acting as a service account',
    route: 'POST /v2/projects/:projectId/regions/:regionId/instances',
    needs: ['secrets.instances.create', 'iam.service_accounts.act_as'],
    yields: ['kms.encrypt', 'kms.decrypt'],
    actAsInService: true,
    timeBound: 'refused',
  },
  {
    what: 'an instance switched to act as a service account',
    route: 'PUT /v2/projects/:projectId/regions/:regionId/instances/:instanceId',
    needs: ['secrets.instances.update', 'iam.service_accounts.act_as'],
    yields: ['kms.encrypt', 'kms.decrypt'],
    actAsInService: true,
    timeBound: 'refused',
  },
  {
    // A password user is new, so it holds nothing: no binding names it yet (members must exist), and
    // the first admin's address and every other one under coffer.internal are reserved.
    what: 'a password user',
    route: 'POST /v2/users',
    needs: ['iam.users.create'],
    yields: [],
  },
  {
    what: 'the root token',
    route: 'POST /v2/sys/root-token::rotate',
    needs: ['sys.root_token.rotate'],
    yields: allPermissions,
    // The service refuses every caller but the first admin itself (user-admin-service.ts).
    selfOnly: true,
  },
];

/**
 * Everything a holder of `held` can reach by obtaining principals through `sources`, repeatedly (a
 * fixpoint): for a sound role, the result equals `held`.
 */
export function reachablePermissions(
  held: readonly Permission[],
  sources: readonly PrincipalSource[] = principalSources,
): Set<Permission> {
  const reached = new Set(held);
  for (let grew = true; grew;) {
    grew = false;
    for (const source of sources) {
      if (source.selfOnly) continue;
      if (!source.needs.every((p) => reached.has(p))) continue;
      for (const permission of source.yields) {
        if (!reached.has(permission)) {
          reached.add(permission);
          grew = true;
        }
      }
    }
  }
  return reached;
}
