/**
 * AWS's error shape: `{"__type": "...", "message": "..."}` with the HTTP status AWS uses for that type.
 * Operations throw {@link AwsError} where AWS has a specific error; any CofferError is translated by
 * {@link awsErrorOf}.
 */
import { CofferError, type ErrorCode } from '../core/errors.ts';

/** An AWS wire error: its `__type`, a message safe to show (never secrets), and its HTTP status. */
export class AwsError extends Error {
  readonly type: string;
  readonly status: number;

  constructor(type: string, message: string, status = 400) {
    super(message);
    this.name = 'AwsError';
    this.type = type;
    this.status = status;
  }
}

/** The AWS services the face speaks. */
export type AwsService = 'secretsmanager' | 'kms';

type Mapping =
  | { readonly type: string; readonly status: number }
  | ((service: AwsService) => {
      type: string;
      status: number;
    });

const perService =
  (secretsmanager: string, kms: string, status = 400): Mapping =>
  (service) => ({ type: service === 'kms' ? kms : secretsmanager, status });

const mapping: Record<ErrorCode, Mapping> = {
  invalid_argument: perService('InvalidParameterException', 'ValidationException'),
  key_not_active: perService('InvalidRequestException', 'DisabledException'),
  failed_precondition: perService('InvalidRequestException', 'KMSInvalidStateException'),
  region_mismatch: perService('InvalidParameterException', 'InvalidKeyUsageException'),
  project_mismatch: perService('InvalidParameterException', 'InvalidKeyUsageException'),
  unauthenticated: { type: 'UnrecognizedClientException', status: 400 },
  permission_denied: { type: 'AccessDeniedException', status: 400 },
  feature_disabled: { type: 'AccessDeniedException', status: 400 },
  not_found: perService('ResourceNotFoundException', 'NotFoundException'),
  gone: perService('ResourceNotFoundException', 'NotFoundException'),
  already_exists: perService('ResourceExistsException', 'AlreadyExistsException'),
  conflict: perService('InvalidRequestException', 'ConflictException'),
  payload_too_large: { type: 'ValidationException', status: 400 },
  rate_limited: { type: 'ThrottlingException', status: 400 },
  request_timeout: { type: 'RequestTimeoutException', status: 408 },
  kms_unavailable: perService('InternalServiceError', 'KMSInternalException', 500),
  sealed: { type: 'ServiceUnavailableException', status: 503 },
  audit_unavailable: { type: 'ServiceUnavailableException', status: 503 },
  storage_unavailable: { type: 'ServiceUnavailableException', status: 503 },
  target_failed: perService('InternalServiceError', 'KMSInternalException', 500),
  internal: perService('InternalServiceError', 'KMSInternalException', 500),
};

/** The AWS error for any thrown value: AwsError as is, CofferError by code, anything else internal. */
export function awsErrorOf(err: unknown, service: AwsService): AwsError {
  if (err instanceof AwsError) return err;
  if (err instanceof CofferError) {
    const entry = mapping[err.code];
    const { type, status } = typeof entry === 'function' ? entry(service) : entry;
    return new AwsError(type, err.message, status);
  }
  const { type, status } = (mapping.internal as (s: AwsService) => { type: string; status: number })(service);
  return new AwsError(type, 'An internal error occurred.', status);
}
