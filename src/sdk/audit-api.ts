import type { AuditPublicKeyView } from '../core/api/route-answer-schemas.ts';
import type { CallOptions, HttpTransport } from './http-transport.ts';
import {
  type AuditEventView,
  type AuditQuery,
  type AuditVerifyView,
  iteratePages,
  type PageResult,
  type ProjectRef,
  seg,
} from './sdk-types.ts';

/** Where audit events are read: a project's, or the system's (`'system'`: init, unseal, logins…). */
export type AuditScope = ProjectRef | 'system';

function eventsPath(scope: AuditScope): string {
  return scope === 'system' ? '/v2/sys/audit-events' : `/v2/projects/${seg(scope.projectId)}/audit-events`;
}

/** Audit: event queries, chain verification, the checkpoint public key (SPEC §8). */
export class AuditApi {
  readonly #http: HttpTransport;
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** One page of events, newest first, filtered by action, principal, resource prefix, result, time. */
  listEvents(
    scope: AuditScope,
    query: AuditQuery = {},
    options?: CallOptions,
  ): Promise<PageResult<AuditEventView>> {
    return this.#http.send({ method: 'GET', path: eventsPath(scope), query: { ...query } }, options);
  }

  /** Every event matching `query`, page after page (for exports). */
  listAllEvents(
    scope: AuditScope,
    query: Omit<AuditQuery, 'pageToken'> = {},
    options?: CallOptions,
  ): AsyncGenerator<AuditEventView, void, undefined> {
    return iteratePages((pageToken) =>
      this.listEvents(scope, { ...query, ...(pageToken ? { pageToken } : {}) }, options),
    );
  }

  /** `GET /v2/sys/audit/verify`: checks every chain and checkpoint signature (root role needed). */
  verify(options?: CallOptions): Promise<AuditVerifyView> {
    return this.#http.send({ method: 'GET', path: '/v2/sys/audit/verify' }, options);
  }

  /** `GET /v2/sys/audit-public-key`: the Ed25519 key that verifies checkpoints (no token needed). */
  publicKey(options?: CallOptions): Promise<AuditPublicKeyView> {
    return this.#http.send({ method: 'GET', path: '/v2/sys/audit-public-key' }, options);
  }
}
