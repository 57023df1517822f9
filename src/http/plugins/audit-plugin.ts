import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../app/app.ts';
import { type PendingAudit, pendingAudit } from '../../audit/audit-outbox.ts';
import type { AuditEvent, AuditResult } from '../../audit/audit-types.ts';
import { mapError } from '../error-mapper.ts';
import { rootResource } from '../route-guard.ts';
import { newTimeOrderedUuid } from '../../core/ids.ts';
import { limiterAddress } from '../../iam/limiter-address.ts';
import { clientAddress } from '../client-address.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Identifiers the handler adds to the request's audit event (e.g. the key version used). */
    auditDetails?: Record<string, string | number | boolean>;
    /** Further events of this request (e.g. `kms.decrypt` by an acting identity). */
    auditExtra?: AuditEvent[];
    /** The audit event a state change of this request carries into the outbox. */
    pendingAudit?: PendingAudit;
    /** Set by `auditNow`: the request's event is already durable. */
    audited?: boolean;
  }
}

function resultOf(status: number): AuditResult {
  if (status < 400) return 'ok';
  return status === 401 || status === 403 ? 'denied' : 'error';
}

function eventOf(request: FastifyRequest, reply: FastifyReply, nowMs: number): AuditEvent | undefined {
  const config = request.routeOptions.config;
  const guard = config.guard;
  if (!guard && !config.audit) return undefined;
  const params = (request.params ?? {}) as Record<string, string>;
  const userAgent = request.headers['user-agent'];
  return {
    id: newTimeOrderedUuid(nowMs),
    timeMs: nowMs,
    requestId: String(request.id),
    action: guard ? (guard.auditAction ?? guard.permission) : config.audit!,
    principal: request.principal ?? 'anonymous',
    resource: guard ? guard.resource(params) : rootResource,
    ...(params.projectId !== undefined ? { projectId: params.projectId } : {}),
    result: resultOf(reply.statusCode),
    status: reply.statusCode,
    sourceIp: clientAddress(request),
    ...(typeof userAgent === 'string' ? { userAgent: userAgent.slice(0, 256) } : {}),
    ...(request.auditDetails ? { details: request.auditDetails } : {}),
  };
}

/**
 * Makes the request's event durable from its handler, as a success (sealing signs the audit head
 * after its own event); throws `audit_unavailable` like a late write would, and onSend writes no
 * second event.
 */
export async function auditNow(app: App, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const event = eventOf(request, reply, app.clock.nowMs());
  if (!event) return;
  const pending = request.pendingAudit;
  await app.audit.append(
    [pending ? { ...event, id: pending.id } : event],
    pending?.written ? [pending.id] : [],
  );
  request.audited = true;
}

/**
 * Audit for every guarded route, allowed or denied, and for the public routes' outcomes (a request
 * refused before authentication, or an anonymous refusal on a public route, is counted instead, see
 * audit/audit-unauthenticated.ts): the event is made durable before the answer
 * leaves (onSend). If that fails, a successful answer is replaced by `503 audit_unavailable`, so a
 * value, plaintext or token is never returned unaudited (fail closed); an error answer, which reveals
 * nothing, is kept as it is.
 */
export function registerAudit(server: FastifyInstance, app: App): void {
  // A state change commits together with its (predicted) audit event; see audit/audit-outbox.ts.
  server.addHook('preHandler', (request, reply, done) => {
    const guard = request.routeOptions.config.guard;
    if (!guard || request.method === 'GET' || request.method === 'HEAD') {
      done();
      return;
    }
    const predicted = eventOf(request, reply, app.clock.nowMs());
    if (!predicted) {
      done();
      return;
    }
    const pending: PendingAudit = {
      id: predicted.id,
      event: { ...predicted, status: 0, result: 'ok' },
      written: false,
    };
    request.pendingAudit = pending;
    pendingAudit.run(pending, done);
  });

  server.addHook('onSend', async (request, reply, payload) => {
    const config = request.routeOptions.config;
    if (request.principal === undefined && (config.guard || (config.audit && reply.statusCode >= 400))) {
      // Refused before the caller was identified (401, or 429 ahead of the token lookup), or an
      // anonymous refusal on a public route (failed login, bad share, malformed request, 429,
      // sealed): counted per address (and route) into a system event once a minute, never one
      // event per request (an anonymous flood). Successes on public routes are recorded below.
      // Keyed like the limiters (an IPv6 address by its /64): one host cannot fill the table.
      app.unauthenticatedAudit.record(
        limiterAddress(clientAddress(request)),
        reply.statusCode === 429,
        config.guard ? undefined : config.audit,
      );
      return payload;
    }
    if (request.audited) return payload;
    const pending = request.pendingAudit;
    const event = eventOf(request, reply, app.clock.nowMs());
    const primary = event && pending ? { ...event, id: pending.id } : event;
    if (!primary) return payload;
    try {
      // Extra events still marked with status 0 failed with the request: they take its status.
      const extra = (request.auditExtra ?? []).map((event) =>
        event.status === 0
          ? { ...event, status: reply.statusCode, result: resultOf(reply.statusCode) }
          : event,
      );
      await app.audit.append([primary, ...extra], pending?.written ? [pending.id] : []);
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
  });
}
