import type { AuditEvent } from '../audit/audit-types.ts';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { Principal } from '../iam/principal.ts';
import { checkSecretPath } from './secret-fns.ts';
import type { SecretService } from './secret-service.ts';
import { secretName, serviceIdentity } from './secret-types.ts';
import type { SecretValueService } from './secret-value-service.ts';

/** A secret another resource's configuration names (admin credentials, a signing key). */
export interface SecretReference {
  readonly projectId: string;
  readonly regionId: string;
  readonly instanceId: string;
  readonly path: string;
}

/** Where a reference is resolved from: the referencing resource's instance. */
export interface ReferenceOrigin {
  readonly projectId: string;
  readonly regionId: string;
  readonly instanceId: string;
}

const fullName = /^projects\/([^/]+)\/regions\/([^/]+)\/instances\/([^/]+)\/secrets\/(.+)$/;

/**
 * Resolves a secret REF seen from `from`: a path in that instance (`db/admin`), or a full secret
 * name (`projects/{p}/regions/{r}/instances/{i}/secrets/{path}`, the path URL-encoded or not) of the
 * same project. `field` names the input in errors (`invalid_argument`).
 */
export function resolveSecretReference(ref: string, from: ReferenceOrigin, field: string): SecretReference {
  if (!ref.startsWith('projects/')) {
    checkSecretPath(ref);
    return { projectId: from.projectId, regionId: from.regionId, instanceId: from.instanceId, path: ref };
  }
  const match = fullName.exec(ref);
  let path: string | undefined;
  try {
    path = match ? decodeURIComponent(match[4]!) : undefined;
  } catch {
    path = undefined;
  }
  if (!match || path === undefined)
    throw errors.invalid(`${field} must be a secret path or a full secret name (projects/…/secrets/{path}).`);
  if (match[1] !== from.projectId) throw errors.invalid(`${field} must name a secret of the same project.`);
  checkSecretPath(path);
  return { projectId: match[1]!, regionId: match[2]!, instanceId: match[3]!, path };
}

/** Who a service read of a referenced secret is made for, and where its audit events go. */
export interface ReferenceRead {
  readonly requestId: string;
  /** The principal the service acts for (omitted from the event when it is the service itself). */
  readonly onBehalfOf: string;
  /** Extra audit details (e.g. `{rotation: name}` or `{database: name}`). */
  readonly details: Record<string, unknown>;
  /** Receives the `secrets.get_value` event, then the read's KMS events. */
  readonly events: AuditEvent[];
}

/**
 * Secrets that rotators and database connections reference: who may name one (the caller must be
 * able to read it, so nobody acts with a credential they cannot read), and reading one as the
 * service (`service:secretsmanager`, audited as `secrets.get_value` on behalf of the caller).
 */
export class SecretReferences {
  readonly #authorizer: Authorizer;
  readonly #secrets: SecretService;
  readonly #values: SecretValueService;
  readonly #clock: Clock;

  constructor(deps: {
    authorizer: Authorizer;
    secrets: SecretService;
    values: SecretValueService;
    clock: Clock;
  }) {
    this.#authorizer = deps.authorizer;
    this.#secrets = deps.secrets;
    this.#values = deps.values;
    this.#clock = deps.clock;
  }

  /**
   * `permission_denied` unless `principal` holds `secrets.get_value` on the secret `ref` names,
   * then `invalid_argument` when it names no secret (only after the permission check, so a denied
   * caller learns nothing of what exists). Returns the resolved reference.
   */
  async requireReadable(
    principal: Principal,
    ref: string,
    from: ReferenceOrigin,
    field: string,
  ): Promise<SecretReference> {
    const resolved = resolveSecretReference(ref, from, field);
    await this.#authorizer.check(principal, 'secrets.get_value', secretName(resolved));
    try {
      await this.#secrets.get(resolved, resolved.instanceId, resolved.path);
    } catch (err) {
      if (err instanceof CofferError && err.code === 'not_found')
        throw errors.invalid(`${field} ${ref} names no secret.`);
      throw err;
    }
    return resolved;
  }

  /**
   * The latest enabled value of the secret `ref` names, read as the service: its
   * `secrets.get_value` event (result and status as the read ended) and the read's KMS events go to
   * `read.events`. Errors of the read pass (never holding the value).
   */
  async readAsService(
    ref: string,
    from: ReferenceOrigin,
    field: string,
    read: ReferenceRead,
  ): Promise<{ bytes: Buffer; version: number }> {
    const target = resolveSecretReference(ref, from, field);
    const at = this.#clock.nowMs();
    const kmsEvents: AuditEvent[] = [];
    let status = 200;
    let version: number | undefined;
    try {
      const value = await this.#values.getValue(
        target,
        target.instanceId,
        target.path,
        undefined,
        undefined,
        {
          principal: serviceIdentity as Principal,
          requestId: read.requestId,
          events: kmsEvents,
        },
      );
      version = value.version;
      return { bytes: value.binaryValue ?? Buffer.from(value.value ?? '', 'utf8'), version };
    } catch (err) {
      status = statusOf(err);
      throw err;
    } finally {
      read.events.push(
        {
          id: newTimeOrderedUuid(at),
          timeMs: at,
          requestId: read.requestId,
          action: 'secrets.get_value',
          principal: serviceIdentity,
          ...(read.onBehalfOf !== serviceIdentity ? { onBehalfOf: read.onBehalfOf } : {}),
          resource: secretName(target),
          projectId: target.projectId,
          result: status < 400 ? 'ok' : 'error',
          status,
          details: { ...read.details, ...(version !== undefined ? { version } : {}) },
        },
        ...kmsEvents,
      );
    }
  }
}

/** The HTTP status an error of a read stands for, for its audit event. */
function statusOf(err: unknown): number {
  if (!(err instanceof CofferError)) return 500;
  switch (err.kind) {
    case 'invalid':
      return 400;
    case 'denied':
      return 403;
    case 'not_found':
      return 404;
    case 'unavailable':
      return 503;
    default:
      return 500;
  }
}
