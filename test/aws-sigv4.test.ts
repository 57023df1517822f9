import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { AwsError } from '../src/aws/aws-errors.ts';
import {
  canonicalRequestOf,
  deriveSigningKey,
  libraryCanonicalRequest,
  parseAuthorization,
  type ReceivedRequest,
  signingKeyCached,
  verifySignature,
} from '../src/aws/sigv4.ts';

/**
 * The face's SigV4 verifier against AWS's own signer (`@smithy/signature-v4`'s full `sign`): requests
 * of many shapes are signed by the library, sent over a real socket (so Node's header parsing,
 * lower-casing and trimming apply), and verified by the server side; the fast canonical form must
 * equal the library's for every one, and any change to what was signed must be refused.
 */

const credentials = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};

/** A small deterministic generator (mulberry32): the same requests on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** RFC 3986 escaping, as the SDK's query string builder escapes. */
const escape = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

interface Sample {
  readonly method: 'POST' | 'GET' | 'PUT';
  readonly path: string;
  readonly query: Record<string, string | string[]>;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly region: string;
  readonly service: string;
  readonly signUserAgent: boolean;
}

const oddValues = [
  'a  b',
  ' lead',
  'trail ',
  'tab\there',
  'x\t \ty',
  'comma,value',
  'UPPER lower',
  '',
  'ümlaut',
];
const oddPaths = [
  '/a/b/../c',
  '/a%20b/c',
  '/a//b',
  '/./x',
  '/a/b/',
  '/%7Euser/file.txt',
  '/a:b@c',
  '/%C3%BC',
];
const queryNames = ['a', 'B', 'x-amz-meta', 'name with space', 'ü', 'e=q', '~tilde', 'plus+'];

function sampleOf(next: () => number, i: number): Sample {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  // Half of the samples are the face's common shape: POST /, no query, the SDK's headers.
  const common = i % 2 === 0;
  const headers: Record<string, string> = {
    'Content-Type': pick(['application/x-amz-json-1.1', 'application/x-amz-json-1.0', 'application/json']),
    'X-Amz-Target': pick([
      'secretsmanager.GetSecretValue',
      'TrentService.Decrypt',
      'secretsmanager.ListSecrets',
    ]),
  };
  const query: Record<string, string | string[]> = {};
  let path = '/';
  if (!common) {
    for (let n = Math.floor(next() * 4); n > 0; n--)
      headers[`X-Amz-Meta-${n}${pick(['a', 'Z'])}`] = pick(oddValues);
    if (next() < 0.5) headers['x-odd'] = pick(oddValues);
    if (next() < 0.7) path = pick(oddPaths);
    for (let n = Math.floor(next() * 4); n > 0; n--) {
      const name = pick(queryNames);
      const value = pick(['1', '', 'a b', 'x/y', 'ü', '*', "'"]);
      const seen = query[name];
      query[name] = seen === undefined ? value : [...[seen].flat(), value];
    }
  } else if (next() < 0.3) headers['X-Amz-User-Agent'] = `aws-sdk-js/3 ${pick(oddValues)}`;
  const method = common ? 'POST' : pick(['POST', 'GET', 'PUT'] as const);
  return {
    method,
    path,
    query,
    headers,
    // A GET carries no body (Node's client would send one unframed).
    body:
      common || (method !== 'GET' && next() < 0.5) ? JSON.stringify({ SecretId: `app/${i}`, n: next() }) : '',
    region: pick(['us-east-1', 'eu-west-1', 'ap-southeast-2']),
    service: pick(['secretsmanager', 'kms']),
    signUserAgent: !common && next() < 0.3,
  };
}

function queryString(query: Record<string, string | string[]>): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(query))
    for (const v of [value].flat()) parts.push(`${escape(name)}=${escape(v)}`);
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

describe('SigV4 verification against AWS’s own signer', () => {
  let server: Server;
  let host: string;
  /** What the server side received, per request (the next one answered when it arrives). */
  let received: (request: ReceivedRequest) => void = () => undefined;

  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Signs the sample with the library's full signer and sends it as signed; resolves with what arrived. */
  async function sendSigned(sample: Sample, signingDate: Date): Promise<ReceivedRequest> {
    const signer = new SignatureV4({
      credentials,
      region: sample.region,
      service: sample.service,
      sha256: Hash.bind(null, 'sha256'),
    });
    const headers = { ...sample.headers, host, 'User-Agent': 'coffer-test/1 (odd  spacing)' };
    const signed = await signer.sign(
      {
        method: sample.method,
        protocol: 'http:',
        hostname: '127.0.0.1',
        path: sample.path,
        query: sample.query,
        headers,
        body: sample.body,
      },
      { signingDate, ...(sample.signUserAgent ? { signableHeaders: new Set(['user-agent']) } : {}) },
    );
    const arrived = new Promise<ReceivedRequest>((resolve) => {
      received = resolve;
    });
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: Number(host.split(':')[1]),
          method: sample.method,
          path: sample.path + queryString(sample.query),
          // Header values as the UTF-8 bytes the signer hashed (Node writes header strings as latin1
          // when the body is a Buffer).
          headers: Object.fromEntries(
            Object.entries(signed.headers).map(([n, v]) => [n, Buffer.from(v, 'utf8').toString('latin1')]),
          ),
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200
              ? resolve()
              : reject(new Error(`the server answered ${res.statusCode} to ${JSON.stringify(sample)}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(Buffer.from(sample.body));
    });
    return arrived;
  }

  async function verify(request: ReceivedRequest, service: string, nowMs: number): Promise<void> {
    const auth = parseAuthorization(request.headers, service, nowMs);
    const key =
      signingKeyCached(auth, credentials.secretAccessKey) ??
      (await deriveSigningKey(auth, credentials.secretAccessKey));
    verifySignature(auth, key, request);
  }

  function refused(run: () => Promise<void>, type = 'InvalidSignatureException') {
    return assert.rejects(run, (err: unknown) => err instanceof AwsError && err.type === type);
  }

  test('every request the library signs verifies, and the fast canonical form equals the library’s', async () => {
    const next = random(18);
    const date = new Date('2026-12-08T01:02:03Z');
    let fast = 0;
    for (let i = 0; i < 240; i++) {
      const sample = sampleOf(next, i);
      const request = await sendSigned(sample, date);
      const auth = parseAuthorization(request.headers, sample.service, date.getTime());
      const payloadHash = await sha256Hex(request.body);
      assert.equal(
        canonicalRequestOf(auth, request, payloadHash),
        libraryCanonicalRequest(auth, request, payloadHash),
        `sample ${i}: ${JSON.stringify(sample)}`,
      );
      if (request.url === '/') fast++;
      await verify(request, sample.service, date.getTime()).catch((err: unknown) => {
        assert.fail(`sample ${i} (${JSON.stringify(sample)}) was refused: ${String(err)}`);
      });
    }
    assert.ok(fast >= 120, `${fast} samples took the fast path`);
  });

  test('any change to what was signed is refused: body, a signed header, the query, the path, the scope', async () => {
    const next = random(7);
    const date = new Date('2026-12-08T01:02:03Z');
    const now = date.getTime();
    for (let i = 0; i < 40; i++) {
      const sample = sampleOf(next, i);
      const request = await sendSigned(sample, date);
      const auth = parseAuthorization(request.headers, sample.service, now);
      const changedHeaders = { ...request.headers, 'x-amz-target': 'secretsmanager.DeleteSecret' };
      // x-amz-content-sha256 names the body's hash: a new body is refused by it, or without it.
      const noPayloadHash = { ...request.headers };
      delete noPayloadHash['x-amz-content-sha256'];
      for (const changed of [
        { ...request, body: Buffer.concat([request.body, Buffer.from(' ')]) },
        { ...request, headers: noPayloadHash, body: Buffer.from(`${request.body.toString()}x`) },
        { ...request, headers: changedHeaders },
        { ...request, url: `${request.url}${request.url.includes('?') ? '&' : '?'}extra=1` },
        { ...request, url: `/zz${request.url}` },
        { ...request, method: request.method === 'POST' ? 'PUT' : 'POST' },
      ])
        await refused(() => verify(changed, sample.service, now));
      // The same signature claimed for another region (a replay to another region) or date.
      const authorization = String(request.headers.authorization);
      const otherRegion = authorization.replace(
        `/${auth.region}/`,
        auth.region === 'eu-west-1' ? '/us-east-1/' : '/eu-west-1/',
      );
      await refused(() =>
        verify(
          { ...request, headers: { ...request.headers, authorization: otherRegion } },
          sample.service,
          now,
        ),
      );
      const wrongKey = { ...credentials, secretAccessKey: `${credentials.secretAccessKey.slice(1)}x` };
      const key = await deriveSigningKey(auth, wrongKey.secretAccessKey);
      assert.throws(() => verifySignature(auth, key, request), AwsError);
    }
  });
});

async function sha256Hex(body: Buffer): Promise<string> {
  const hash = new Hash('sha256');
  hash.update(body);
  return Buffer.from(await hash.digest()).toString('hex');
}
