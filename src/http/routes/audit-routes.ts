import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { auditPublicKey, readAuditPublicKey } from '../../audit/audit-signing-key.ts';
import { queryAuditEvents } from '../../audit/audit-query.ts';
import type { AuditEvent } from '../../audit/audit-types.ts';
import { auditHeadPath } from '../../audit/audit-head-file.ts';
import { verifyAuditChains } from '../../audit/audit-verifier.ts';
import { AuditEventView, AuditQueryString, VerifyView } from '../../core/api/audit-schemas.ts';
import { PageOf } from '../../core/api/common-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { CofferError } from '../../core/errors.ts';
import { pageView } from '../page-view.ts';
import { rootResource } from '../route-guard.ts';

const ProjectParams = Type.Object({ projectId: Type.String({ maxLength: 64 }) });
type ProjectParams = Static<typeof ProjectParams>;

function eventView(event: AuditEvent): AuditEventView {
  return {
    id: event.id,
    time: toRfc3339(event.timeMs),
    requestId: event.requestId,
    action: event.action,
    principal: event.principal,
    ...(event.onBehalfOf ? { onBehalfOf: event.onBehalfOf } : {}),
    resource: event.resource,
    result: event.result,
    status: event.status,
    ...(event.sourceIp ? { sourceIp: event.sourceIp } : {}),
    ...(event.userAgent ? { userAgent: event.userAgent } : {}),
    ...(event.details ? { details: { ...event.details } } : {}),
  };
}

function filters(query: AuditQueryString) {
  return {
    ...(query.action !== undefined ? { action: query.action } : {}),
    ...(query.principal !== undefined ? { principal: query.principal } : {}),
    ...(query.resource !== undefined ? { resource: query.resource } : {}),
    ...(query.result !== undefined ? { result: query.result } : {}),
    ...(query.requestId !== undefined ? { requestId: query.requestId } : {}),
    ...(query.since !== undefined ? { sinceMs: Date.parse(query.since) } : {}),
    ...(query.until !== undefined ? { untilMs: Date.parse(query.until) } : {}),
    ...(query.pageSize !== undefined ? { pageSize: query.pageSize } : {}),
    ...(query.pageToken !== undefined ? { pageToken: query.pageToken } : {}),
  };
}

/** Audit: per-project and system event queries, chain verification, the checkpoint public key. */
export function registerAuditRoutes(server: FastifyInstance, app: App): void {
  const tags = ['audit'];
  server.get<{ Params: ProjectParams; Querystring: AuditQueryString }>(
    '/v2/projects/:projectId/audit-events',
    {
      config: { guard: { permission: 'audit.events.list', resource: (p) => `projects/${p.projectId}` } },
      schema: {
        tags,
        summary: 'Audit events of a project, newest first',
        params: ProjectParams,
        querystring: AuditQueryString,
        response: { 200: PageOf(AuditEventView) },
      },
    },
    async (request) => {
      await app.projects.get(request.params.projectId);
      const page = await queryAuditEvents(app.storage.db, {
        projectId: request.params.projectId,
        ...filters(request.query),
      });
      return pageView(page, eventView);
    },
  );

  server.get<{ Querystring: AuditQueryString }>(
    '/v2/sys/audit-events',
    {
      config: { guard: { permission: 'sys.audit_events.list', resource: () => rootResource } },
      schema: {
        tags,
        summary: 'Audit events that belong to no project (init, unseal, seal, logins, root policy)',
        querystring: AuditQueryString,
        response: { 200: PageOf(AuditEventView) },
      },
    },
    async (request) =>
      pageView(
        await queryAuditEvents(app.storage.db, { projectId: null, ...filters(request.query) }),
        eventView,
      ),
  );

  server.get(
    '/v2/sys/audit/verify',
    {
      config: { guard: { permission: 'sys.audit.verify', resource: () => rootResource } },
      schema: {
        tags,
        summary: 'Verify the audit chains and checkpoint signatures',
        response: { 200: VerifyView },
      },
    },
    async () => {
      // The writer's own head first: events written while storage is read only lengthen the chain.
      const writer = app.audit.durableHead();
      const pem = await readAuditPublicKey(app.storage);
      return verifyAuditChains(app.storage, pem ? auditPublicKey(pem) : undefined, {
        headFile: auditHeadPath(app.config.dataDir),
        writer,
      });
    },
  );

  server.get(
    '/v2/sys/audit/sinks',
    {
      config: { guard: { permission: 'sys.audit_events.list', resource: () => rootResource } },
      schema: {
        tags,
        summary: 'Delivery state of the audit sinks (pending events, last delay, failures)',
        response: {
          200: PageOf(
            Type.Object({
              name: Type.String(),
              type: Type.String(),
              delivered: Type.Integer(),
              pending: Type.Integer(),
              lastDelayMs: Type.Union([Type.Integer(), Type.Null()]),
              lastDeliveryTime: Type.Union([Type.String(), Type.Null()]),
              consecutiveFailures: Type.Integer(),
              lastError: Type.Union([Type.String(), Type.Null()]),
            }),
          ),
        },
      },
    },
    async () => ({
      items: app.auditSinks.status().map((s) => ({
        ...s,
        lastDeliveryTime: s.lastDeliveryTime === null ? null : toRfc3339(s.lastDeliveryTime),
      })),
    }),
  );

  server.get(
    '/v2/sys/audit-public-key',
    {
      config: { public: true },
      schema: {
        tags,
        summary: 'The Ed25519 key that verifies audit checkpoints',
        response: { 200: Type.Object({ pem: Type.String() }) },
      },
    },
    async () => {
      const pem = await readAuditPublicKey(app.storage);
      if (!pem)
        throw new CofferError('sealed', 'The audit signing key is made when the node is first unsealed.');
      return { pem };
    },
  );
}
