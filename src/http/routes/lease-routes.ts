import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { App } from '../../app/app.ts';
import {
  LeaseId,
  LeasePage,
  LeaseView,
  ListLeasesQuery,
  RenewLeaseBody,
  RevokePrefixBody,
  RevokePrefixView,
} from '../../core/api/lease-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { databaseName, leaseName, parseTtlSeconds } from '../../databases/database-fns.ts';
import type { DbLease } from '../../databases/database-types.ts';
import type { LeaseGate } from '../../databases/lease-service.ts';
import { pageView } from '../page-view.ts';
import { callerOf, type P, s64 } from './secrets-route-shared.ts';

/** The API view of a lease (never a password: none is stored). */
export function leaseView(lease: DbLease): LeaseView {
  const inRevocation = lease.state === 'revoking' || lease.state === 'revoke_failed';
  return {
    id: lease.id,
    name: leaseName(lease),
    username: lease.username,
    principal: lease.principal,
    state: lease.state,
    issueTime: toRfc3339(lease.issueTimeMs),
    expireTime: toRfc3339(lease.expireTimeMs),
    maxExpireTime: toRfc3339(lease.maxExpireTimeMs),
    renewable: lease.renewable,
    ...(lease.revokeTimeMs !== null ? { revokeTime: toRfc3339(lease.revokeTimeMs) } : {}),
    ...(inRevocation || lease.attempts > 0 ? { attempts: lease.attempts } : {}),
    ...(inRevocation && lease.nextAttemptTimeMs !== null
      ? { nextAttemptTime: toRfc3339(lease.nextAttemptTimeMs) }
      : {}),
    ...(lease.lastError !== null ? { lastError: lease.lastError } : {}),
  };
}

/** A POST sent without a body means `{}` (the body's fields are all optional). */
export function noBodyIsEmpty(request: FastifyRequest, _reply: unknown, done: () => void): void {
  request.body ??= {};
  done();
}

const LeaseParams = Type.Object({ leaseId: LeaseId });
const DatabaseParams = Type.Object({
  projectId: s64(),
  regionId: s64(),
  instanceId: s64(),
  databaseId: s64(),
});
const dbResource = (p: P) =>
  databaseName({ projectId: p.projectId!, regionId: p.regionId!, instanceId: p.instanceId! }, p.databaseId!);
const location = (p: P) => ({ projectId: p.projectId!, regionId: p.regionId!, instanceId: p.instanceId! });

/**
 * A route by lease id names no project in its URL: once the service has found the lease (and
 * decided the caller may act on it), the request's audit event is about the lease's full name in
 * its project, including the event predicted before the handler ran (carried by the first write).
 */
function attributeTo(request: FastifyRequest, lease: DbLease): void {
  const resource = leaseName(lease);
  request.guardResource = resource;
  (request.params as P).projectId = lease.projectId;
  const pending = request.pendingAudit;
  if (pending && !pending.written)
    Object.assign(pending.event as { resource: string; projectId?: string }, {
      resource,
      projectId: lease.projectId,
    });
}

/**
 * Leases of dynamic database credentials (issue 15 §2): by id for their owner (or an admin of the
 * database; the service decides, the feature gate follows), and per database for admins.
 */
export function registerLeaseRoutes(server: FastifyInstance, app: App): void {
  const tags = ['databases'];
  const byId = (auditAction: string) => ({
    guard: {
      permission: 'authenticated' as const,
      auditAction,
      resource: (p: P) => `leases/${p.leaseId}`,
    },
  });
  /** After the service allowed the caller, before it acts: audit attribution, then the feature gate. */
  const gateOf =
    (request: FastifyRequest): LeaseGate =>
    async (lease) => {
      attributeTo(request, lease);
      await app.projects.requireFeature(lease.projectId, 'secrets');
    };

  server.get<{ Params: P }>(
    '/v2/leases/:leaseId',
    {
      config: byId('secrets.leases.get'),
      schema: {
        tags,
        summary: 'Read a lease (its owner, or secrets.leases.list on its database)',
        params: LeaseParams,
        response: { 200: LeaseView },
      },
    },
    async (request) =>
      leaseView(await app.leases.get(request.principal!, request.params.leaseId!, gateOf(request))),
  );
  server.post<{ Params: P; Body: RenewLeaseBody | undefined }>(
    '/v2/leases/:leaseId/renew',
    {
      preValidation: noBodyIsEmpty,
      config: byId('secrets.leases.renew'),
      schema: {
        tags,
        summary: 'Renew one’s own lease (bounded by the role’s maxTtl from issue time)',
        params: LeaseParams,
        body: RenewLeaseBody,
        response: { 200: LeaseView },
      },
    },
    async (request) => {
      const increment = request.body?.increment;
      const seconds = increment === undefined ? undefined : parseTtlSeconds(increment, 'increment');
      const id = request.params.leaseId!;
      return leaseView(await app.leases.renew(callerOf(request), id, seconds, gateOf(request)));
    },
  );
  server.post<{ Params: P }>(
    '/v2/leases/:leaseId/revoke',
    {
      config: byId('secrets.leases.revoke'),
      schema: {
        tags,
        summary: 'Revoke a lease now: its sessions end and its role is dropped',
        params: LeaseParams,
        response: { 200: LeaseView },
      },
    },
    async (request) =>
      leaseView(await app.leases.revoke(callerOf(request), request.params.leaseId!, gateOf(request))),
  );

  const databaseBase =
    '/v2/projects/:projectId/regions/:regionId/instances/:instanceId/databases/:databaseId';
  server.get<{ Params: P; Querystring: ListLeasesQuery }>(
    `${databaseBase}/leases`,
    {
      config: { guard: { permission: 'secrets.leases.list', resource: dbResource, feature: 'secrets' } },
      schema: {
        tags,
        summary: 'List the leases of a database (?role=, ?state=)',
        params: DatabaseParams,
        querystring: ListLeasesQuery,
        response: { 200: LeasePage },
      },
    },
    async (request) => {
      const { role, state, pageSize, pageToken } = request.query;
      const page = await app.leases.list(
        location(request.params),
        request.params.databaseId!,
        { ...(role !== undefined ? { role } : {}), ...(state !== undefined ? { state } : {}) },
        pageSize,
        pageToken,
      );
      return pageView(page, leaseView);
    },
  );
  server.post<{ Params: P; Body: RevokePrefixBody | undefined }>(
    `${databaseBase}/leases/revoke-prefix`,
    {
      preValidation: noBodyIsEmpty,
      config: {
        guard: {
          permission: 'secrets.leases.revoke',
          auditAction: 'secrets.leases.revoke_prefix',
          resource: dbResource,
          feature: 'secrets',
        },
      },
      schema: {
        tags,
        summary:
          'Revoke every active lease of a database, or of one of its roles (the expiry job drains them)',
        params: DatabaseParams,
        body: RevokePrefixBody,
        response: { 200: RevokePrefixView },
      },
    },
    async (request) => {
      const role = request.body?.role;
      const revoked = await app.leases.revokePrefix(
        location(request.params),
        request.params.databaseId!,
        role,
      );
      request.auditDetails = { revoked, ...(role !== undefined ? { role } : {}) };
      return { revoked };
    },
  );
}
