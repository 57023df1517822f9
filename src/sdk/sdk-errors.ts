/** An error answer from a Coffer server, with its stable code. */
export class CofferApiError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** Stable snake_case error code (`permission_denied`, `sealed`…). */
  readonly code: string;
  /** The request id the server logged and audited. */
  readonly requestId: string | undefined;
  /** Seconds the server asked to wait (`Retry-After`), when it said. */
  readonly retryAfterSeconds: number | undefined;
  /** Other fields of the error body, e.g. `oldestCursor` of a change feed's `gone` (never a value). */
  readonly details: Readonly<Record<string, unknown>>;
  constructor(
    status: number,
    code: string,
    message: string,
    requestId: string | undefined,
    retryAfterSeconds?: number,
    details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'CofferApiError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.retryAfterSeconds = retryAfterSeconds;
    this.details = details;
  }
}

/** The server could not be reached, or did not answer within the per-request timeout. */
export class CofferConnectionError extends Error {
  /** `timeout` when the per-request timeout elapsed, `network` for refused, reset or unresolvable. */
  readonly kind: 'timeout' | 'network';
  /** The address that was called. */
  readonly address: string;
  /** The request id that was sent. */
  readonly requestId: string;
  /** How many attempts were made. */
  readonly attempts: number;
  constructor(
    kind: 'timeout' | 'network',
    address: string,
    requestId: string,
    attempts: number,
    detail: string,
    cause?: unknown,
  ) {
    super(
      kind === 'timeout'
        ? `no answer from ${address} in time (${detail})`
        : `cannot reach the server at ${address} (${detail})`,
      cause === undefined ? undefined : { cause },
    );
    this.name = 'CofferConnectionError';
    this.kind = kind;
    this.address = address;
    this.requestId = requestId;
    this.attempts = attempts;
  }
}
