/**
 * The SigV4 Authorization header of the AWS face (docs/aws.md): parsed (the SDKs' exact form in one
 * match, any other spacing step by step) and checked against the clock (5 minutes of skew), the
 * credential scope and the expected service, with AWS's own exception names and messages. The
 * signature itself is verified in sigv4.ts.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { ALGORITHM_IDENTIFIER } from '@smithy/signature-v4';
import { AwsError } from './aws-errors.ts';

/** Allowed difference between the request's X-Amz-Date and this node's clock (AWS: 5 minutes). */
export const clockSkewMs = 5 * 60_000;

/** The parts of a SigV4 Authorization header. */
export interface SigV4Authorization {
  readonly accessKeyId: string;
  /** `YYYYMMDD` of the credential scope. */
  readonly scopeDate: string;
  readonly region: string;
  readonly service: string;
  /** Lowercase names, as signed. */
  readonly signedHeaders: readonly string[];
  /** The SignedHeaders parameter as received (`content-type;host;…`). */
  readonly signedHeaderList: string;
  /** 64 lowercase hex digits. */
  readonly signature: string;
  /** The request's X-Amz-Date (`YYYYMMDDTHHMMSSZ`). */
  readonly amzDate: string;
}

const algorithm = ALGORITHM_IDENTIFIER;
const authorizationPattern =
  /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([^,\s]+)\s*$/;
const amzDatePattern = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const signaturePattern = /^[0-9a-f]{64}$/;
const headerName = "[a-z0-9!#$%&'*+.^_`|~-]+";
const signedHeaderListPattern = new RegExp(`^${headerName}(?:;${headerName})*$`);
/** The Authorization header as the SDKs write it, well-formed in every part. */
const sdkAuthorizationPattern = new RegExp(
  `^AWS4-HMAC-SHA256 Credential=([^/,\\s]+)/(\\d{8})/([^/,\\s]+)/([^/,\\s]+)/aws4_request, SignedHeaders=(${headerName}(?:;${headerName})*), Signature=([0-9a-f]{64})$`,
);
const algorithmAndSpace = `${ALGORITHM_IDENTIFIER} `;

/** AWS's answer to a signature that does not match (or is no signature). */
export const invalidSignature = () =>
  new AwsError(
    'InvalidSignatureException',
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  );

const incomplete = (message: string) => new AwsError('IncompleteSignatureException', message);

/** `YYYYMMDDTHHMMSSZ` of a time. */
export function amzDateOf(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** The last X-Amz-Date read (requests of the same second share it): its time, or undefined if invalid. */
let lastAmzDate = '';
let lastAmzDateMs: number | undefined;

/** The time an X-Amz-Date names, or undefined when it is no valid `YYYYMMDDTHHMMSSZ` (Feb 30 included). */
function amzDateMs(amzDate: string): number | undefined {
  if (amzDate === lastAmzDate) return lastAmzDateMs;
  const date = amzDatePattern.exec(amzDate);
  let ms: number | undefined = date
    ? Date.UTC(+date[1]!, +date[2]! - 1, +date[3]!, +date[4]!, +date[5]!, +date[6]!)
    : undefined;
  if (ms !== undefined && (Number.isNaN(ms) || amzDateOf(ms) !== amzDate)) ms = undefined;
  lastAmzDate = amzDate;
  lastAmzDateMs = ms;
  return ms;
}

/**
 * Parses and checks the Authorization header against the clock and the expected service. Throws
 * MissingAuthenticationTokenException, IncompleteSignatureException or InvalidSignatureException as
 * AWS answers them. Query-string (presigned) authentication is not accepted.
 */
export function parseAuthorization(
  headers: IncomingHttpHeaders,
  expectedService: string,
  nowMs: number,
): SigV4Authorization {
  const header = headers.authorization;
  if (header === undefined || header === '')
    throw new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  // The SDKs' exact form in one match; anything else (other spacing, a malformed part) is parsed
  // step by step below, with AWS's message for what is wrong.
  const fast = sdkAuthorizationPattern.exec(header);
  if (fast === null) return parseLooseAuthorization(header, headers, expectedService, nowMs);
  const signedList = fast[5]!;
  return checkedAuthorization(
    headers,
    expectedService,
    nowMs,
    fast[1]!,
    fast[2]!,
    fast[3]!,
    fast[4]!,
    'aws4_request',
    signedList,
    signedList.split(';'),
    fast[6]!,
  );
}

/** `parseAuthorization` for a header in any form the algorithm allows (spacing), or malformed. */
function parseLooseAuthorization(
  header: string,
  headers: IncomingHttpHeaders,
  expectedService: string,
  nowMs: number,
): SigV4Authorization {
  if (!header.startsWith(algorithmAndSpace))
    throw incomplete(
      `Authorization header requires '${algorithm}' as its algorithm, and 'Credential', 'SignedHeaders' and 'Signature' parameters.`,
    );
  const match = authorizationPattern.exec(header);
  if (!match)
    throw incomplete(
      "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters, each once, separated by commas.",
    );
  const [, credential, signedList, signature] = match as unknown as [string, string, string, string];
  const parts = credential.split('/');
  if (parts.length !== 5 || parts.some((part) => part === ''))
    throw incomplete("Credential must have the form 'AccessKeyId/YYYYMMDD/region/service/aws4_request'.");
  const [accessKeyId, scopeDate, region, service, terminator] = parts as [
    string,
    string,
    string,
    string,
    string,
  ];
  if (!signaturePattern.test(signature)) throw invalidSignature();
  if (!signedHeaderListPattern.test(signedList))
    throw incomplete('SignedHeaders must be lowercase header names separated by semicolons.');
  return checkedAuthorization(
    headers,
    expectedService,
    nowMs,
    accessKeyId,
    scopeDate,
    region,
    service,
    terminator,
    signedList,
    signedList.split(';'),
    signature,
  );
}

/** The checks of a parsed Authorization header (its parts well-formed): signed headers, date, scope, clock. */
function checkedAuthorization(
  headers: IncomingHttpHeaders,
  expectedService: string,
  nowMs: number,
  accessKeyId: string,
  scopeDate: string,
  region: string,
  service: string,
  terminator: string,
  signedList: string,
  signedHeaders: string[],
  signature: string,
): SigV4Authorization {
  if (!signedHeaders.includes('host')) throw incomplete("SignedHeaders must include 'host'.");
  // The target names the operation: unsigned, a captured request could be replayed as another one
  // (a DescribeSecret as GetSecretValue or DeleteSecret) within the clock skew.
  if (headers['x-amz-target'] !== undefined && !signedHeaders.includes('x-amz-target'))
    throw incomplete("SignedHeaders must include 'x-amz-target'.");
  const amzDate = headers['x-amz-date'];
  if (typeof amzDate !== 'string')
    throw incomplete("Authorization header requires existence of a 'X-Amz-Date' header.");
  const signingMs = amzDateMs(amzDate);
  if (signingMs === undefined)
    throw incomplete(`X-Amz-Date must be an ISO 8601 basic date-time such as 20150830T123600Z.`);
  if (!signedHeaders.includes('x-amz-date')) throw incomplete("SignedHeaders must include 'x-amz-date'.");
  if (terminator !== 'aws4_request')
    throw new AwsError(
      'InvalidSignatureException',
      `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator.slice(0, 32)}'.`,
    );
  if (scopeDate !== amzDate.slice(0, 8))
    throw new AwsError(
      'InvalidSignatureException',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate.slice(0, 16)}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
    );
  if (service !== expectedService)
    throw new AwsError(
      'InvalidSignatureException',
      `Credential should be scoped to correct service: '${expectedService}'.`,
    );
  if (signingMs < nowMs - clockSkewMs)
    throw new AwsError(
      'InvalidSignatureException',
      `Signature expired: ${amzDate} is now earlier than ${amzDateOf(nowMs - clockSkewMs)} (${amzDateOf(nowMs)} - 5 min.)`,
    );
  if (signingMs > nowMs + clockSkewMs)
    throw new AwsError(
      'InvalidSignatureException',
      `Signature not yet current: ${amzDate} is still later than ${amzDateOf(nowMs + clockSkewMs)} (${amzDateOf(nowMs)} + 5 min.)`,
    );
  return {
    accessKeyId,
    scopeDate,
    region,
    service,
    signedHeaders,
    signedHeaderList: signedList,
    signature,
    amzDate,
  };
}
