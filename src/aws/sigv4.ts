/**
 * SigV4 verification of the AWS face (docs/aws.md): the Authorization header is parsed and checked
 * (sigv4-authorization.ts: scope, date, clock skew), then, the payload hash checked, the signature is
 * computed again from what was received — method, path, query, exactly the headers the client
 * signed, the body's SHA-256 — and compared in constant time.
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
import { createHmac, createSecretKey, hash, type KeyObject, timingSafeEqual } from 'node:crypto';
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
import { invalidSignature, type SigV4Authorization } from './sigv4-authorization.ts';

export {
  amzDateOf,
  clockSkewMs,
  parseAuthorization,
  type SigV4Authorization,
} from './sigv4-authorization.ts';

/** A received request, as verification needs it. */
export interface ReceivedRequest {
  readonly method: string;
  /** The URL as received (path and query). */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
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
  // One-shot (crypto.hash of its latin1 bytes): no Hash object per request.
  const canonicalHash = hash('sha256', Buffer.from(canonical, 'latin1'), 'hex');
  const stringToSign = `${ALGORITHM_IDENTIFIER}\n${auth.amzDate}\n${signingKey.scope}\n${canonicalHash}`;
  const computed = createHmac('sha256', signingKey.key).update(stringToSign).digest();
  // Both 32 bytes: the signature was checked to be 64 hex digits.
  if (!timingSafeEqual(computed, Buffer.from(auth.signature, 'hex'))) throw invalidSignature();
}
