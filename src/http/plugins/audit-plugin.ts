import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../app/app.ts';
import { type PendingAudit, pendingAudit } from '../../audit/audit-outbox.ts';
import type { AuditEvent, AuditResult } from '../../audit/audit-types.ts';
import { appendRequestEvents, auditResultOf } from '../../audit/request-audit.ts';
import { mapError } from '../error-mapper.ts';
import { rootResource, routeConfig } from '../route-guard.ts';
import { newTimeOrderedUuid } from '../../core/ids.ts';
import { clientAddress, limiterKey } from '../client-address.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Identifiers the handler adds to the request's audit event (e.g. the key version used). */
    auditDetails?: Record<string, string | number | boolean> | undefined;
    /** Further events of this request (e.g. `kms.decrypt` by an acting identity). */
    auditExtra?: AuditEvent[];
    /** The audit event a state change of this request carries into the outbox. */
    pendingAudit?: PendingAudit;
    /** Set by `auditNow`: the request's event is already durable. */
    audited?: boolean;
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const noOutboxIds: readonly string[] = Object.freeze([]);

/**
 * The request's audit event, built in place (no spreads, no intermediate objects): the resource as
 * the guard resolved it, the address as the limiters read it, and `id` (the predicted event's id
 * when there is one, so the answer's event replaces its outbox row).
 */
function buildEvent(
  request: FastifyRequest,
  config: FastifyContextConfig,
  nowMs: number,
  id: string,
  status: number,
  result: AuditResult,
): AuditEvent {
  const guard = config.guard;
  const params = (request.params ?? {}) as Record<string, string>;
  const event: Mutable<AuditEvent> = {
    id,
    timeMs: nowMs,
    requestId: String(request.id),
    action: guard ? (guard.auditAction ?? guard.permission) : config.audit!,
    principal: request.principal ?? 'anonymous',
    resource: guard ? (request.guardResource ?? guard.resource(params)) : rootResource,
    result,
    status,
    sourceIp: clientAddress(request),
  };
  if (params.projectId !== undefined) event.projectId = params.projectId;
  const userAgent = request.headers['user-agent'];
  if (typeof userAgent === 'string')
    event.userAgent = userAgent.length > 256 ? userAgent.slice(0, 256) : userAgent;
  if (request.auditDetails) event.details = request.auditDetails;
  return event;
}

function eventOf(
  request: FastifyRequest,
  reply: FastifyReply,
  nowMs: number,
  id?: string,
): AuditEvent | undefined {
  const config = routeConfig(request);
  if (!config.guard && !config.audit) return undefined;
  const status = reply.statusCode;
  return buildEvent(request, config, nowMs, id ?? newTimeOrderedUuid(nowMs), status, auditResultOf(status));
}

/**
 * Makes the request's event durable from its handler, as a success (sealing signs the audit head
 * after its own event); throws `audit_unavailable` like a late write would, and onSend writes no
 * second event.
 */
export async function auditNow(app: App, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const pending = request.pendingAudit;
  const event = eventOf(request, reply, app.clock.nowMs(), pending?.id);
  if (!event) return;
  await app.audit.append([event], pending?.written ? [pending.id] : noOutboxIds);
  request.audited = true;
}

/**
 * A state change commits together with its (predicted) audit event (see audit/audit-outbox.ts):
 * for guarded routes that change something, the event is predicted before the handler runs.
 */
export function registerAudit(server: FastifyInstance, app: App): void {
  for (const field of ['auditDetails', 'auditExtra', 'pendingAudit', 'audited'] as const)
    server.decorateRequest(field, undefined);
  server.addHook('preHandler', (request, _reply, done) => {
    const config = routeConfig(request);
    if (!config.guard || config.changesNothing || request.method === 'GET' || request.method === 'HEAD') {
      done();
      return;
    }
    const nowMs = app.clock.nowMs();
    const id = newTimeOrderedUuid(nowMs);
    const pending: PendingAudit = {
      id,
      event: buildEvent(request, config, nowMs, id, 0, 'ok'),
      written: false,
    };
    request.pendingAudit = pending;
    pendingAudit.run(pending, done);
  });
}

/**
 * Audit for every guarded route, allowed or denied, and for the public routes' outcomes (a request
 * refused before authentication, or an anonymous refusal on a public route, is counted instead, see
 * audit/audit-unauthenticated.ts): the event is made durable before the answer leaves (the server's
 * onSend hook runs this). If that fails, a successful answer is replaced by `503 audit_unavailable`,
 * so a value, plaintext or token is never returned unaudited (fail closed); an error answer, which
 * reveals nothing, is kept as it is. Returns a promise of the payload to send only when an event is
 * written; undefined when the payload goes as it is.
 */
export function auditAnswer(
  app: App,
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
): Promise<unknown> | undefined {
  const config = routeConfig(request);
  if (request.principal === undefined && (config.guard || (config.audit && reply.statusCode >= 400))) {
    // Refused before the caller was identified (401, or 429 ahead of the token lookup), or an
    // anonymous refusal on a public route (failed login, bad share, malformed request, 429,
    // sealed): counted per address (and route) into a system event once a minute, never one
    // event per request (an anonymous flood). Successes on public routes are recorded below.
    // Keyed like the limiters (an IPv6 address by its /64): one host cannot fill the table.
    app.unauthenticatedAudit.record(
      limiterKey(request),
      reply.statusCode === 429,
      config.guard ? undefined : config.audit,
    );
    return undefined;
  }
  if (request.audited) return undefined;
  const pending = request.pendingAudit;
  const primary = eventOf(request, reply, app.clock.nowMs(), pending?.id);
  if (!primary) return undefined;
  return appendAnswered(app, request, reply, payload, primary, pending);
}

async function appendAnswered(
  app: App,
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  primary: AuditEvent,
  pending: PendingAudit | undefined,
): Promise<unknown> {
  try {
    // Extra events still marked with status 0 failed with the request: they take its status.
    await appendRequestEvents(app.audit, primary, request.auditExtra, pending);
    return payload;
  } catch (err) {
    // An error answer reveals nothing: keep it (the audit failure is logged). A success is withheld.
    if (reply.statusCode >= 400) return payload;
    const mapped = mapError(err);
    void reply.code(mapped.status);
    void reply.header('content-type', 'application/json; charset=utf-8');
    return JSON.stringify({
      error: { code: mapped.code, message: mapped.message, requestId: String(request.id) },
    });
  }
}
