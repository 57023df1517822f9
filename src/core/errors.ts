/**
 * The one catalogue of coded errors. Domains throw `CofferError` with a code from here; only the HTTP
 * layer turns the code's kind into a status (see `http/error-mapper.ts`). docs/errors.md documents
 * every code, and a test fails when one is missing there.
 */

/** What sort of failure an error is; the HTTP layer maps each kind to one status. */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'denied'
  | 'not_found'
  | 'gone'
  | 'conflict'
  | 'too_large'
  | 'rate_limited'
  | 'timeout'
  | 'unavailable'
  | 'internal';

/** Every error code Coffer answers with, and its kind. */
export const errorCatalogue = {
  invalid_argument: { kind: 'invalid', summary: 'The request is malformed or a field value is not allowed.' },
  key_not_active: { kind: 'invalid', summary: 'The KMS key or key version needed is not active/enabled.' },
  failed_precondition: {
    kind: 'invalid',
    summary: 'The operation is not allowed in the resource’s current state.',
  },
  region_mismatch: { kind: 'invalid', summary: 'The KMS key lives in another region than the resource.' },
  project_mismatch: { kind: 'invalid', summary: 'The KMS key lives in another project than the one named.' },
  unauthenticated: { kind: 'unauthenticated', summary: 'No credential, or a bad, expired or revoked one.' },
  permission_denied: {
    kind: 'denied',
    summary: 'Authenticated, but not allowed (existence is not revealed).',
  },
  feature_disabled: { kind: 'denied', summary: 'The project’s feature gate for this service is off.' },
  not_found: { kind: 'not_found', summary: 'The resource does not exist.' },
  gone: {
    kind: 'gone',
    summary: 'What the request asks for is no longer retained (a change-feed cursor older than retention).',
  },
  already_exists: { kind: 'conflict', summary: 'A resource with this id, path or slug already exists.' },
  conflict: { kind: 'conflict', summary: 'Stale etag or expected version, or a concurrent change.' },
  payload_too_large: { kind: 'too_large', summary: 'The body, value or plaintext is over its size limit.' },
  rate_limited: { kind: 'rate_limited', summary: 'Too many requests; retry after the Retry-After delay.' },
  request_timeout: {
    kind: 'timeout',
    summary: 'The request (headers or body) was not received within the server’s time limit.',
  },
  kms_unavailable: { kind: 'unavailable', summary: 'KMS is not available in this region.' },
  sealed: { kind: 'unavailable', summary: 'The node is sealed; unseal it first.' },
  audit_unavailable: {
    kind: 'unavailable',
    summary: 'The audit event could not be made durable (storage failing or too slow).',
  },
  storage_unavailable: {
    kind: 'unavailable',
    summary: 'The database cannot be reached or did not answer in time.',
  },
  target_failed: {
    kind: 'unavailable',
    summary: 'A rotation or database target (PostgreSQL, a rotation webhook) failed or could not be reached.',
  },
  internal: { kind: 'internal', summary: 'An unexpected server error; details are in the server log only.' },
} as const satisfies Record<string, { kind: ErrorKind; summary: string }>;

/** A stable snake_case error code. */
export type ErrorCode = keyof typeof errorCatalogue;

/** An error with a stable code, safe to show to the caller (the message never carries secrets). */
export class CofferError extends Error {
  /** The stable code, e.g. `key_not_active`. */
  readonly code: ErrorCode;
  /** Seconds the caller should wait before retrying (rate limits). */
  readonly retryAfterSeconds: number | undefined;
  /** Extra fields of the error body (e.g. `oldestCursor` of `gone`); never secrets. */
  readonly details: Readonly<Record<string, string>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number; details?: Readonly<Record<string, string>> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CofferError';
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.details = options?.details;
  }

  /** The kind of this error's code. */
  get kind(): ErrorKind {
    return errorCatalogue[this.code].kind;
  }
}

/** True when `err` is a CofferError, optionally with the given code. */
export function isCofferError(err: unknown, code?: ErrorCode): err is CofferError {
  return err instanceof CofferError && (code === undefined || err.code === code);
}

/** Shorthands for the most common errors. */
export const errors = {
  invalid: (message: string) => new CofferError('invalid_argument', message),
  notFound: (what: string) => new CofferError('not_found', `${what} was not found.`),
  alreadyExists: (what: string) => new CofferError('already_exists', `${what} already exists.`),
  conflict: (message: string) => new CofferError('conflict', message),
  /**
   * `permission_denied`, naming the permission and the resource as the caller wrote them (checked
   * before any lookup, so the message is the same whether or not the resource exists).
   */
  denied: (permission?: string, resource?: string) =>
    new CofferError(
      'permission_denied',
      permission && resource
        ? `Permission ${permission} denied on ${resource}.`
        : 'The caller does not have permission for this operation.',
    ),
  unauthenticated: (message = 'A valid bearer token is required.') =>
    new CofferError('unauthenticated', message),
  sealed: () => new CofferError('sealed', 'Coffer is sealed.'),
} as const;
