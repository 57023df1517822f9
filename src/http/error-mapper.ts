import { CofferError, type ErrorCode, type ErrorKind } from '../core/errors.ts';

/** The HTTP status of each error kind: the only place that knows HTTP numbers for errors. */
const statusByKind: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  denied: 403,
  not_found: 404,
  gone: 410,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  timeout: 408,
  unavailable: 503,
  internal: 500,
};

/** An error as the API answers it. */
export interface MappedError {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
  readonly retryAfterSeconds?: number;
  /** Extra fields of the error body (`CofferError.details`). */
  readonly details?: Readonly<Record<string, string>>;
  /** True when the error was not expected and must be logged in full. */
  readonly unexpected: boolean;
}

interface FrameworkError {
  code?: string;
  statusCode?: number;
  validation?: unknown;
  validationContext?: string;
  message?: string;
}

function fromFramework(err: FrameworkError): MappedError | undefined {
  if (err.validation) {
    const where = err.validationContext ?? 'request';
    return {
      status: 400,
      code: 'invalid_argument',
      message: `Invalid ${where}: ${err.message}`,
      unexpected: false,
    };
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        code: 'payload_too_large',
        message: 'The request body is too large.',
        unexpected: false,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 400,
        code: 'invalid_argument',
        message: 'Content-Type must be application/json.',
        unexpected: false,
      };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'invalid_argument', message: 'The JSON body is empty.', unexpected: false };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return {
        status: 400,
        code: 'invalid_argument',
        message: 'The body is not valid JSON.',
        unexpected: false,
      };
    default:
      break;
  }
  if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
    return {
      status: 400,
      code: 'invalid_argument',
      message: 'The body is not valid JSON.',
      unexpected: false,
    };
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return { status: 400, code: 'invalid_argument', message: 'The request is malformed.', unexpected: false };
  }
  return undefined;
}

/** Maps any thrown value to the API's answer; unknown errors become a generic 500. */
export function mapError(err: unknown): MappedError {
  if (err instanceof CofferError) {
    return {
      status: statusByKind[err.kind],
      code: err.code,
      message: err.message,
      ...(err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}),
      ...(err.details !== undefined ? { details: err.details } : {}),
      unexpected: err.kind === 'internal',
    };
  }
  if (err && typeof err === 'object') {
    const mapped = fromFramework(err as FrameworkError);
    if (mapped) return mapped;
  }
  return { status: 500, code: 'internal', message: 'An internal error occurred.', unexpected: true };
}
