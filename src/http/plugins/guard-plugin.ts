import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { App } from '../../app/app.ts';
import { CofferError, errors } from '../../core/errors.ts';
import { limiterAddress } from '../../iam/limiter-address.ts';
import type { RouteGuard } from '../route-guard.ts';
import { clientAddress } from '../client-address.ts';

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

function bearerOf(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (!header) throw errors.unauthenticated();
  const match = /^Bearer ([^\s]+)$/i.exec(header);
  if (!match) throw errors.unauthenticated('The Authorization header must be "Bearer <token>".');
  return match[1]!;
}

/** The caller's principal; a failed authentication spends from its address's failed-auth budget. */
async function authenticate(app: App, request: FastifyRequest) {
  try {
    return await app.tokens.authenticate(bearerOf(request));
  } catch (err) {
    if (err instanceof CofferError && err.code === 'unauthenticated')
      app.failedAuthLimiter.take(limiterAddress(clientAddress(request)));
    throw err;
  }
}

/**
 * An instance named by its name where its id goes (`…/instances/main/secrets/…`) becomes that id
 * before the permission check, so the check runs on the real resource and a caller with rights to
 * one secret needs no listing to find the instance. A name that matches no instance (or several) is
 * left as written and behaves exactly like an unknown id: no existence oracle.
 */
async function resolveInstanceName(app: App, params: Record<string, string>): Promise<void> {
  const { projectId, regionId, instanceId } = params;
  if (projectId === undefined || regionId === undefined || instanceId === undefined) return;
  const id = await app.instances.idForName({ projectId, regionId }, instanceId);
  if (id !== undefined) params.instanceId = id;
}

/**
 * The one access hook. For every guarded route, in SPEC §4's order: 401 (credential) → 503 sealed →
 * 403 (permission on the resource named by the URL, before existence or body) → feature gate →
 * kms_unavailable. Routes must declare either a guard or `public: true`; registering one that
 * declares neither fails at start-up.
 */
export function registerGuard(server: FastifyInstance, app: App): void {
  const table: DeclaredRoute[] = [];
  routeTables.set(server, table);
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

  server.addHook('onRequest', async (request) => {
    const perAddress = app.addressLimiter.take(limiterAddress(clientAddress(request)));
    if (perAddress > 0) throw rateLimited(perAddress);
    const config = request.routeOptions.config;
    const guard = config.guard;
    if (!guard) {
      // Public routes and unknown URLs (which answer 404) carry no guard.
      return;
    }
    // An address that keeps failing to authenticate is refused before any token lookup (its valid
    // tokens too, until the budget refills: the lookup is what a guessing client makes us pay for).
    const failing = app.failedAuthLimiter.blocked(limiterAddress(clientAddress(request)));
    if (failing > 0) throw rateLimited(failing);
    const principal = await authenticate(app, request);
    request.principal = principal;
    const perPrincipal = app.principalLimiter.take(principal);
    if (perPrincipal > 0) throw rateLimited(perPrincipal);
    if (app.barrier.sealed) throw new CofferError('sealed', 'Coffer is sealed.');
    const params = (request.params ?? {}) as Record<string, string>;
    const written = guard.resource(params);
    await resolveInstanceName(app, params);
    if (guard.permission !== 'authenticated') {
      const resource = guard.resource(params);
      for (const permission of [guard.permission, ...(guard.alsoNeeds ?? [])])
        if (!(await app.authorizer.holds(principal, permission, resource)))
          // Named as the caller wrote it: a name that resolved reads exactly like one that did not.
          throw errors.denied(permission, written);
    }
    // Routes open to any principal check their gate themselves, after their own checks, so the gate
    // says nothing about a project to strangers.
    if (guard.feature && guard.permission !== 'authenticated' && params.projectId !== undefined)
      await app.projects.requireFeature(params.projectId, guard.feature);
    if ((guard.needsKmsRegion || guard.feature === 'kms') && params.regionId !== undefined) {
      app.projects.requireKmsRegion(params.regionId);
    }
  });
}
