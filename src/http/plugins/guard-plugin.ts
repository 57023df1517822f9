import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { App } from '../../app/app.ts';
import type { Principal } from '../../iam/principal.ts';
import { CofferError, errors } from '../../core/errors.ts';
import { type RouteGuard, routeConfig } from '../route-guard.ts';
import { limiterKey } from '../client-address.ts';
import { looksLikeUuid } from '../../secrets/instance-name.ts';

/** A route as declared: method, URL pattern, and its access rule (none for the public routes). */
export interface DeclaredRoute {
  readonly method: string;
  readonly url: string;
  readonly guard?: RouteGuard;
}

const routeTables = new WeakMap<FastifyInstance, DeclaredRoute[]>();

/** Every /v2 route a server declared (for the authorization matrix test and documentation). */
export function declaredRoutes(server: FastifyInstance): readonly DeclaredRoute[] {
  return routeTables.get(server) ?? [];
}

function rateLimited(retryAfterSeconds: number): CofferError {
  return new CofferError('rate_limited', 'Too many requests; retry after the Retry-After delay.', {
    retryAfterSeconds,
  });
}

/** The bearer token of a request; `unauthenticated` when there is none or the header is malformed. */
export function bearerOf(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (!header) throw errors.unauthenticated();
  const match = /^Bearer ([^\s]+)$/i.exec(header);
  if (!match) throw errors.unauthenticated('The Authorization header must be "Bearer <token>".');
  return match[1]!;
}

/** A refused credential spends from its address's failed-auth budget; the error goes on as it is. */
function refused(app: App, request: FastifyRequest, err: unknown): never {
  if (err instanceof CofferError && err.code === 'unauthenticated')
    app.failedAuthLimiter.take(limiterKey(request));
  throw err;
}

/**
 * An instance named by its name where its id goes (`…/instances/main/secrets/…`) becomes that id
 * before the permission check, so the check runs on the real resource and a caller with rights to
 * one secret needs no listing to find the instance. A name that matches no instance (or several) is
 * left as written and behaves exactly like an unknown id: no existence oracle. Returns the name as
 * written when it was replaced.
 */
async function resolveInstanceName(app: App, params: Record<string, string>): Promise<string | undefined> {
  const { projectId, regionId, instanceId } = params;
  if (projectId === undefined || regionId === undefined || instanceId === undefined) return undefined;
  const id = await app.instances.idForName({ projectId, regionId }, instanceId);
  if (id === undefined || id === instanceId) return undefined;
  params.instanceId = id;
  return instanceId;
}

/**
 * Records every /v2 route's access rule (routes must declare either a guard or `public: true`;
 * registering one that declares neither fails at start-up) and declares the request fields the
 * access hook and the audit fill, so every request object has one shape.
 */
export function registerGuard(server: FastifyInstance): void {
  const table: DeclaredRoute[] = [];
  routeTables.set(server, table);
  for (const field of ['principal', 'routeConfig', 'guardResource', 'sourceAddress', 'limiterKey'] as const)
    server.decorateRequest(field, undefined);
  server.addHook('onRoute', (route) => {
    const config = route.config as { guard?: RouteGuard; public?: boolean } | undefined;
    if (!route.url.startsWith('/v2')) return;
    if (!config?.guard && !config?.public) {
      throw new Error(`route ${route.method} ${route.url} declares neither a guard nor public access`);
    }
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      table.push({ method, url: route.url, ...(config.guard ? { guard: config.guard } : {}) });
    }
  });
}

/**
 * The access check of every request (the server's one onRequest hook runs it). For every guarded
 * route, in SPEC §4's order: 401 (credential) → 503 sealed → 403 (permission on the resource named by
 * the URL, before existence or body) → feature gate → kms_unavailable. Throws what refuses the
 * request; returns a promise only when there is something to wait for (a guarded route), so a
 * public route costs no promise.
 */
export function guardRequest(app: App, request: FastifyRequest): Promise<void> | undefined {
  const address = limiterKey(request);
  const perAddress = app.addressLimiter.take(address);
  if (perAddress > 0) throw rateLimited(perAddress);
  const guard = routeConfig(request).guard;
  // Public routes and unknown URLs (which answer 404) carry no guard.
  if (!guard) return undefined;
  // An address that keeps failing to authenticate is refused before any token lookup (its valid
  // tokens too, until the budget refills: the lookup is what a guessing client makes us pay for).
  const failing = app.failedAuthLimiter.blocked(address);
  if (failing > 0) throw rateLimited(failing);
  return checkGuarded(app, request, guard);
}

/** A refusal names the resource as the caller wrote it: a name that resolved reads like one that did not. */
function writtenName(
  guard: RouteGuard,
  params: Record<string, string>,
  resource: string,
  writtenInstance: string | undefined,
): string {
  return writtenInstance === undefined
    ? resource
    : guard.resource({ ...params, instanceId: writtenInstance });
}

// The steps below return a promise only when they must wait (a token, policy or instance name not
// cached, a feature gate); with everything cached, a guarded request is checked without one.

function checkGuarded(app: App, request: FastifyRequest, guard: RouteGuard): Promise<void> | undefined {
  let bearer: string;
  let principal: Principal | undefined;
  try {
    bearer = bearerOf(request);
    principal = app.tokens.authenticateCached(bearer);
  } catch (err) {
    refused(app, request, err);
  }
  if (principal === undefined)
    return app.tokens.authenticate(bearer).then(
      (found) => authenticated(app, request, guard, found),
      (err: unknown) => refused(app, request, err),
    );
  return authenticated(app, request, guard, principal);
}

function authenticated(
  app: App,
  request: FastifyRequest,
  guard: RouteGuard,
  principal: Principal,
): Promise<void> | undefined {
  request.principal = principal;
  const perPrincipal = app.principalLimiter.take(principal);
  if (perPrincipal > 0) throw rateLimited(perPrincipal);
  if (app.barrier.sealed) throw new CofferError('sealed', 'Coffer is sealed.');
  const params = (request.params ?? {}) as Record<string, string>;
  // An instance id (not a name) needs no resolution: no promise for it.
  if (
    params.projectId !== undefined &&
    params.regionId !== undefined &&
    params.instanceId !== undefined &&
    !looksLikeUuid(params.instanceId)
  )
    return resolveInstanceName(app, params).then((written) =>
      authorize(app, request, guard, principal, params, written),
    );
  return authorize(app, request, guard, principal, params, undefined);
}

function authorize(
  app: App,
  request: FastifyRequest,
  guard: RouteGuard,
  principal: Principal,
  params: Record<string, string>,
  writtenInstance: string | undefined,
): Promise<void> | undefined {
  const resource = guard.resource(params);
  request.guardResource = resource;
  if (guard.permission !== 'authenticated') {
    const held = guard.alsoNeeds
      ? undefined
      : app.authorizer.holdsCached(principal, guard.permission, resource);
    if (held === undefined)
      return authorizeReading(app, guard, principal, params, resource, writtenInstance).then(() =>
        gates(app, guard, params),
      );
    if (!held) throw errors.denied(guard.permission, writtenName(guard, params, resource, writtenInstance));
  }
  return gates(app, guard, params);
}

async function authorizeReading(
  app: App,
  guard: RouteGuard,
  principal: Principal,
  params: Record<string, string>,
  resource: string,
  writtenInstance: string | undefined,
): Promise<void> {
  if (guard.permission === 'authenticated') return;
  for (const permission of [guard.permission, ...(guard.alsoNeeds ?? [])])
    if (!(await app.authorizer.holds(principal, permission, resource)))
      throw errors.denied(permission, writtenName(guard, params, resource, writtenInstance));
}

/**
 * The feature gate, then KMS in the region. Routes open to any principal check their gate
 * themselves, after their own checks, so the gate says nothing about a project to strangers.
 */
function gates(app: App, guard: RouteGuard, params: Record<string, string>): Promise<void> | undefined {
  if (
    guard.feature &&
    guard.permission !== 'authenticated' &&
    params.projectId !== undefined &&
    // A cached project answers at once (or refuses); otherwise it is read.
    !app.projects.hasFeatureCached(params.projectId, guard.feature)
  )
    return app.projects
      .requireFeature(params.projectId, guard.feature)
      .then(() => kmsRegion(app, guard, params));
  kmsRegion(app, guard, params);
  return undefined;
}

function kmsRegion(app: App, guard: RouteGuard, params: Record<string, string>): void {
  if ((guard.needsKmsRegion || guard.feature === 'kms') && params.regionId !== undefined)
    app.projects.requireKmsRegion(params.regionId);
}
