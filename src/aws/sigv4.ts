/**
 * SigV4 verification of the AWS face (docs/aws.md): the Authorization header is parsed and checked
 * (scope, date, clock skew, payload hash), then the signature is computed again from what was
 * received — method, path, query, exactly the headers the client signed, the body's SHA-256 — and
 * compared in constant time.
 *
 * The canonical request is AWS's own (`@smithy/signature-v4`'s SignatureV4Base: path normalization,
 * escaping, query sorting, header trimming) for every request but the face's common shape — `POST /`
 * without a query, signed header names sorted, each present once — which is written here directly
 * in the same form (one string, no request, header or query objects); test/aws-sigv4.test.ts checks
 * both against the library's full signer on many requests. A request costs one SHA-256 of the body,
 * one of the canonical request and one HMAC with the derived signing key, which is cached as a
 * KeyObject per (key id, date, region, service) (an HMAC keyed by a KeyObject costs a fifth of one
 * keyed by a Buffer, which node imports again on every call).
 */
import { createHash, createHmac, createSecretKey, hash, type KeyObject, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Hash } from '@smithy/hash-node';
import {
  ALGORITHM_IDENTIFIER,
  createScope,
  getCanonicalHeaders,
  getSigningKey,
  SignatureV4Base,
} from '@smithy/signature-v4';
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

/** A received request, as verification needs it. */
export interface ReceivedRequest {
  readonly method: string;
  /** The URL as received (path and query). */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
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

const invalidSignature = () =>
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

/**
 * The canonical request of the signer itself (SignatureV4Base's, path normalization, escaping and
 * query sorting included); one instance serves every request (it holds no credentials).
 */
class CanonicalRequests extends SignatureV4Base {
  constructor() {
    super({
      credentials: { accessKeyId: '', secretAccessKey: '' },
      region: '',
      service: '',
      sha256: Hash.bind(null, 'sha256'),
    });
  }

  of(request: SignableRequest, headers: Record<string, string>, payloadHash: string): string {
    return this.createCanonicalRequest(request, headers, payloadHash);
  }
}

type SignableRequest = Parameters<typeof getCanonicalHeaders>[0];

const canonicalRequests = new CanonicalRequests();

function queryOf(url: string): Record<string, string | string[]> {
  const at = url.indexOf('?');
  const query: Record<string, string | string[]> = {};
  if (at === -1) return query;
  for (const [name, value] of new URLSearchParams(url.slice(at + 1))) {
    const seen = query[name];
    query[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return query;
}

/** The canonical request by the library's own functions: any path, query and header set. */
export function libraryCanonicalRequest(
  auth: SigV4Authorization,
  request: ReceivedRequest,
  payloadHash: string,
): string {
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const value = Object.hasOwn(request.headers, name) ? request.headers[name] : undefined;
    if (typeof value === 'string') headers[name] = value;
    else if (Array.isArray(value)) headers[name] = value.join(',');
  }
  const url = request.url;
  const at = url.indexOf('?');
  const signable: SignableRequest = {
    method: request.method,
    protocol: 'https:',
    hostname: typeof request.headers.host === 'string' ? request.headers.host : '',
    path: at === -1 ? url : url.slice(0, at),
    query: queryOf(url),
    headers,
  };
  // Exactly the headers the client signed: the library's unsignable list (user-agent, …) does not apply.
  const canonicalHeaders = getCanonicalHeaders(signable, undefined, new Set(auth.signedHeaders)) as Record<
    string,
    string
  >;
  return canonicalRequests.of(signable, canonicalHeaders, payloadHash);
}

/** A header value that the library's trimming (CR/LF to spaces, runs of blanks to one, ends) would change. */
const untrimmed = /[\r\n\t]| {2}|^ | $/;

/** The library's trimming of a header value (getCanonicalHeaders). */
function trimmedValue(value: string): string {
  return value
    .replace(/[\r\n]/g, ' ')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
}

/**
 * The canonical request of a received request, as the library forms it. The face's own shape
 * (`/` without a query; signed names strictly ascending, each a header received once) is written
 * directly; anything else goes through the library's functions.
 */
export function canonicalRequestOf(
  auth: SigV4Authorization,
  request: ReceivedRequest,
  payloadHash: string,
): string {
  if (request.url !== '/') return libraryCanonicalRequest(auth, request, payloadHash);
  const headers = request.headers;
  let lines = '';
  let previous = '';
  for (const name of auth.signedHeaders) {
    const value = Object.hasOwn(headers, name) ? headers[name] : undefined;
    if (name <= previous || typeof value !== 'string')
      return libraryCanonicalRequest(auth, request, payloadHash);
    lines += `${name}:${untrimmed.test(value) ? trimmedValue(value) : value}\n`;
    previous = name;
  }
  return `${request.method}\n/\n\n${lines}\n${auth.signedHeaderList}\n${payloadHash}`;
}

/** A derived signing key and the credential scope it signs for. */
export interface SigningKey {
  /** The secret it was derived from (a key id's secret never changes; checked all the same). */
  readonly secret: string;
  readonly key: KeyObject;
  /** `YYYYMMDD/region/service/aws4_request`. */
  readonly scope: string;
}

/** Derived signing keys per (key id, date, region, service): four HMACs saved per request. */
const signingKeys = new Map<string, SigningKey>();
const maxSigningKeys = 10_000;

const cacheKeyOf = (auth: SigV4Authorization) =>
  `${auth.accessKeyId}\u0000${auth.scopeDate}\u0000${auth.region}\u0000${auth.service}`;

/** The cached signing key of the request's scope for `secretAccessKey`, or undefined (derive it first). */
export function signingKeyCached(auth: SigV4Authorization, secretAccessKey: string): SigningKey | undefined {
  const found = signingKeys.get(cacheKeyOf(auth));
  return found !== undefined && found.secret === secretAccessKey ? found : undefined;
}

/** Derives the request scope's signing key with the library's getSigningKey, and caches it. */
export async function deriveSigningKey(
  auth: SigV4Authorization,
  secretAccessKey: string,
): Promise<SigningKey> {
  const derived = await getSigningKey(
    Hash.bind(null, 'sha256'),
    { accessKeyId: auth.accessKeyId, secretAccessKey },
    auth.scopeDate,
    auth.region,
    auth.service,
  );
  const entry: SigningKey = {
    secret: secretAccessKey,
    key: createSecretKey(derived),
    scope: createScope(auth.scopeDate, auth.region, auth.service),
  };
  if (signingKeys.size >= maxSigningKeys) signingKeys.clear();
  signingKeys.set(cacheKeyOf(auth), entry);
  return entry;
}

/** Drops every cached signing key. */
export function forgetSigningKeys(): void {
  signingKeys.clear();
}

/**
 * Verifies a request's signature with the signing key of its scope (signingKeyCached, else
 * deriveSigningKey): computes it again from what was received and compares in constant time. Throws
 * InvalidSignatureException on any difference (an X-Amz-Content-Sha256 that is not the body's hash
 * included).
 */
export function verifySignature(
  auth: SigV4Authorization,
  signingKey: SigningKey,
  request: ReceivedRequest,
): void {
  const payloadHash = hash('sha256', request.body);
  const claimed = request.headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== payloadHash)
    throw new AwsError(
      'InvalidSignatureException',
      'The provided X-Amz-Content-Sha256 header does not match the hash of the request body.',
    );
  const canonical = canonicalRequestOf(auth, request, payloadHash);
  // Node reads header values as latin1 (one char per byte received): hashed as latin1, a value is the
  // bytes the client signed (an SDK hashes its UTF-8). Every other part of the canonical form is ASCII.
  const canonicalHash = createHash('sha256').update(canonical, 'latin1').digest('hex');
  const stringToSign = `${ALGORITHM_IDENTIFIER}\n${auth.amzDate}\n${signingKey.scope}\n${canonicalHash}`;
  const computed = createHmac('sha256', signingKey.key).update(stringToSign).digest();
  // Both 32 bytes: the signature was checked to be 64 hex digits.
  if (!timingSafeEqual(computed, Buffer.from(auth.signature, 'hex'))) throw invalidSignature();
}
