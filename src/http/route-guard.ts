import type { FastifyContextConfig, FastifyRequest } from 'fastify';
import type { Permission } from '../iam/permissions.ts';
import type { Principal } from '../iam/principal.ts';

export { rootResource } from '../iam/resource-names.ts';

/**
 * What a route declares about access: the permission it needs on which resource, and the feature
 * gate of its service. One hook enforces it for every route (http/plugins/guard-plugin.ts), so no
 * route can forget authentication, the seal, authorization or the gates.
 */
export interface RouteGuard {
  /**
   * The permission needed, or `authenticated` for catalogue reads that any valid principal may make
   * (roles, permissions, the API description, testing one's own permissions); those declare an
   * `auditAction`.
   */
  readonly permission: Permission | 'authenticated';
  /**
   * Further permissions the caller must also hold on the same resource (minting a service account's
   * token also needs `iam.service_accounts.act_as` on it: nobody borrows an identity they do not control).
   */
  readonly alsoNeeds?: readonly Permission[];
  /** The full resource name the permission is checked on, built from the URL's parameters. */
  readonly resource: (params: Record<string, string>) => string;
  /** The project feature gate the route belongs to (needs a `projectId` parameter). */
  readonly feature?: 'secrets' | 'kms';
  /** Whether the route needs KMS in its region (needs a `regionId` parameter). */
  readonly needsKmsRegion?: boolean;
  /** The audit action when it differs from the permission (e.g. reads of metadata share one). */
  readonly auditAction?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Access rule of a guarded route. */
    guard?: RouteGuard;
    /** Marks one of the unauthenticated routes of SPEC §4. */
    public?: boolean;
    /** The audit action of a public route that is audited (login, unseal, init). */
    audit?: string;
    /** Adds `Cache-Control: no-store` (the answer carries a secret, a plaintext or a token). */
    noStore?: boolean;
    /**
     * The route never changes storage (KMS crypto operations): no predicted audit event is prepared
     * for the outbox, its event is written once the answer is known, like a read's.
     */
    changesNothing?: boolean;
  }
  interface FastifyRequest {
    /** The authenticated caller (guarded routes only). */
    principal?: Principal;
    /** The route's config, once read (see `routeConfig`). */
    routeConfig?: FastifyContextConfig;
    /** The resource the guard checked (after name resolution), for the request's audit event. */
    guardResource?: string;
  }
}

/**
 * The route's config (guard, public, audit, noStore). Fastify's `request.routeOptions` getter builds
 * a fresh object of a dozen fields on every read, and the guard, the audit and the response hook all
 * ask: read once per request.
 */
export function routeConfig(request: FastifyRequest): FastifyContextConfig {
  return (request.routeConfig ??= request.routeOptions.config);
}
