/**
 * SigV4 verification of the AWS face (docs/aws.md): the Authorization header is parsed and checked
 * (scope, date, clock skew, payload hash), then the signature is computed again from what was
 * received — method, path, query, exactly the headers the client signed, the body's SHA-256 — with
 * AWS's own signing code (`@smithy/signature-v4`: its canonical request, header selection, scope and
 * signing-key derivation; the two SHA-256/HMAC steps with node:crypto directly, no per-request
 * hasher objects) and compared in constant time. Derived signing keys are cached per (key, secret,
 * date, region, service).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
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
  /** 64 lowercase hex digits. */
  readonly signature: string;
  /** The request's X-Amz-Date (`YYYYMMDDTHHMMSSZ`). */
  readonly amzDate: string;
  readonly signingDate: Date;
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
const headerNamePattern = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

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
  if (!header.startsWith(`${algorithm} `))
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
  const signedHeaders = signedList.split(';');
  if (!signedHeaders.every((name) => headerNamePattern.test(name)))
    throw incomplete('SignedHeaders must be lowercase header names separated by semicolons.');
  if (!signedHeaders.includes('host')) throw incomplete("SignedHeaders must include 'host'.");
  // The target names the operation: unsigned, a captured request could be replayed as another one
  // (a DescribeSecret as GetSecretValue or DeleteSecret) within the clock skew.
  if (headers['x-amz-target'] !== undefined && !signedHeaders.includes('x-amz-target'))
    throw incomplete("SignedHeaders must include 'x-amz-target'.");
  const amzDate = headers['x-amz-date'];
  if (typeof amzDate !== 'string')
    throw incomplete("Authorization header requires existence of a 'X-Amz-Date' header.");
  const date = amzDatePattern.exec(amzDate);
  const signingMs = date
    ? Date.UTC(+date[1]!, +date[2]! - 1, +date[3]!, +date[4]!, +date[5]!, +date[6]!)
    : Number.NaN;
  if (!date || Number.isNaN(signingMs) || amzDateOf(signingMs) !== amzDate)
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
    signature,
    amzDate,
    signingDate: new Date(signingMs),
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

/** Derived signing keys per (key, secret, date, region, service): four HMACs saved per request. */
const signingKeys = new Map<string, Buffer>();
const maxSigningKeys = 10_000;

async function signingKeyOf(auth: SigV4Authorization, secretAccessKey: string): Promise<Buffer> {
  const cacheKey = `${auth.accessKeyId}\u0000${secretAccessKey}\u0000${auth.scopeDate}\u0000${auth.region}\u0000${auth.service}`;
  let key = signingKeys.get(cacheKey);
  if (key === undefined) {
    const derived = await getSigningKey(
      Hash.bind(null, 'sha256'),
      { accessKeyId: auth.accessKeyId, secretAccessKey },
      auth.scopeDate,
      auth.region,
      auth.service,
    );
    key = Buffer.from(derived);
    if (signingKeys.size >= maxSigningKeys) signingKeys.clear();
    signingKeys.set(cacheKey, key);
  }
  return key;
}

/** Drops every cached signing key. */
export function forgetSigningKeys(): void {
  signingKeys.clear();
}

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

/**
 * Verifies a request's signature with the secret of its access key: re-signs what was received with
 * AWS's signer and compares in constant time. Throws InvalidSignatureException on any difference
 * (an X-Amz-Content-Sha256 that is not the body's hash included).
 */
export async function verifySignature(
  auth: SigV4Authorization,
  secretAccessKey: string,
  request: ReceivedRequest,
): Promise<void> {
  const payloadHash = createHash('sha256').update(request.body).digest('hex');
  const claimed = request.headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== payloadHash)
    throw new AwsError(
      'InvalidSignatureException',
      'The provided X-Amz-Content-Sha256 header does not match the hash of the request body.',
    );
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const value = request.headers[name];
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const signed = new Set(auth.signedHeaders);
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
  const canonicalHeaders = getCanonicalHeaders(signable, undefined, signed) as Record<string, string>;
  const canonical = canonicalRequests.of(signable, canonicalHeaders, payloadHash);
  const scope = createScope(auth.scopeDate, auth.region, auth.service);
  const stringToSign = `${ALGORITHM_IDENTIFIER}\n${auth.amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
  const computed = createHmac('sha256', await signingKeyOf(auth, secretAccessKey))
    .update(stringToSign)
    .digest('hex');
  if (!timingSafeEqual(Buffer.from(computed, 'latin1'), Buffer.from(auth.signature, 'latin1')))
    throw invalidSignature();
}
