/**
 * The AwsCall of one authenticated AWS request: authorization through Coffer IAM with the native
 * twin's permissions, and the request's audit event, built as the /v2 audit hook builds it (same
 * actions; details `api: "aws"` and `operation`) and made durable before the answer leaves.
 */
import type { App } from '../app/app.ts';
import type { PendingAudit } from '../audit/audit-outbox.ts';
import type { AuditEvent, AuditResult } from '../audit/audit-types.ts';
import { appendRequestEvents } from '../audit/request-audit.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import type { Permission } from '../iam/permissions.ts';
import type { Principal } from '../iam/principal.ts';
import type { Caller } from '../secrets/secret-types.ts';
import { AwsError, type AwsService } from './aws-errors.ts';
import type { AwsCall } from './aws-operation.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What a call is made of. */
export interface AwsCallInit {
  readonly service: AwsService;
  readonly operation: string;
  readonly principal: Principal;
  readonly projectId: string;
  readonly accountId: string;
  readonly regionId: string;
  readonly requestId: string;
  readonly sourceIp: string;
  readonly userAgent: string | undefined;
}

/** The call an operation's handler receives; also holds the request's audit event. */
export class AwsRequestCall implements AwsCall {
  readonly service: AwsService;
  readonly operation: string;
  readonly principal: Principal;
  readonly projectId: string;
  readonly accountId: string;
  readonly regionId: string;
  readonly requestId: string;
  readonly caller: Caller;
  auditDetails: Record<string, string | number | boolean> = {};
  /** The request's event: named by the first authorize(), completed by `finish`. */
  readonly event: Mutable<AuditEvent>;
  readonly #app: App;
  #named = false;

  constructor(app: App, init: AwsCallInit) {
    this.#app = app;
    this.service = init.service;
    this.operation = init.operation;
    this.principal = init.principal;
    this.projectId = init.projectId;
    this.accountId = init.accountId;
    this.regionId = init.regionId;
    this.requestId = init.requestId;
    this.caller = { principal: init.principal, requestId: init.requestId, events: [] };
    const nowMs = app.clock.nowMs();
    this.event = {
      id: newTimeOrderedUuid(nowMs),
      timeMs: nowMs,
      requestId: init.requestId,
      // Until an authorize() names it: an operation that checks no permission (GetRandomPassword).
      action: `aws.${init.service}.${init.operation}`,
      principal: init.principal,
      resource: `projects/${init.projectId}`,
      projectId: init.projectId,
      result: 'ok',
      status: 0,
      sourceIp: init.sourceIp,
    };
    if (init.userAgent !== undefined)
      this.event.userAgent = init.userAgent.length > 256 ? init.userAgent.slice(0, 256) : init.userAgent;
  }

  async authorize(
    permission: Permission,
    resource: string,
    opts?: { auditAction?: string; shownAs?: string },
  ): Promise<void> {
    if (!this.#named) {
      // Before any write of the request: the outbox row (written with its first change) carries it.
      this.event.action = opts?.auditAction ?? permission;
      this.event.resource = resource;
      this.#named = true;
    }
    const authorizer = this.#app.authorizer;
    const held =
      authorizer.holdsCached(this.principal, permission, resource) ??
      (await authorizer.holds(this.principal, permission, resource));
    if (!held)
      throw new AwsError(
        'AccessDeniedException',
        `${this.principal} is not authorized to perform: ${this.service}:${this.operation} on resource: ${opts?.shownAs ?? resource} (Coffer permission ${permission}).`,
      );
  }

  /**
   * Writes the request's events with the answer's status (and the outbox row of its first change
   * replaced); rejects when they cannot be made durable (the caller withholds a success).
   */
  finish(status: number, result: AuditResult, pending: PendingAudit | undefined): Promise<void> {
    const event = this.event;
    event.status = status;
    event.result = result;
    event.timeMs = this.#app.clock.nowMs();
    const details = this.auditDetails;
    details.api = 'aws';
    details.operation = this.operation;
    event.details = details;
    // The request's further events (an acting identity's kms.decrypt, …) are marked as the face's too.
    const extra = this.caller.events;
    for (let i = 0; i < extra.length; i++) {
      const e = extra[i]!;
      extra[i] = { ...e, details: { ...e.details, api: 'aws', operation: this.operation } };
    }
    return appendRequestEvents(this.#app.audit, event, extra, pending);
  }
}
