/**
 * Raw SigV4 requests to the AWS face, signed here (so the signed header set, the scope and the
 * headers sent can be chosen independently), for the security tests.
 */
import { createHash, createHmac } from 'node:crypto';
import type { TestNode } from './test-node.ts';

/** An access key: id and secret. */
export interface RawKey {
  readonly id: string;
  readonly secret: string;
}

/** What a raw request may change from a well-formed one. */
export interface RawOptions {
  /** The credential scope's region (default eu-west-1). */
  readonly region?: string;
  /** The headers named in SignedHeaders (default: every header sent). */
  readonly signed?: readonly string[];
  /** Headers replaced after signing. */
  readonly after?: Record<string, string>;
  /** Rewrites the Authorization header after signing (e.g. another region in its scope). */
  readonly authorization?: (signed: string) => string;
}

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

/** Signs `POST /` with SigV4 as `options` say, sends it, and answers the status and the JSON body. */
export async function rawAws(
  node: TestNode,
  key: RawKey,
  target: string,
  body: string,
  options: RawOptions = {},
): Promise<{ status: number; body: Record<string, unknown> & { __type?: string; message?: string } }> {
  const region = options.region ?? 'eu-west-1';
  const host = new URL(node.url).host;
  const date = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  const service = target.startsWith('TrentService.') ? 'kms' : 'secretsmanager';
  const headers: Record<string, string> = {
    host,
    'x-amz-date': date,
    'content-type': 'application/x-amz-json-1.1',
    'x-amz-target': target,
  };
  const names = [...(options.signed ?? Object.keys(headers))].sort();
  const canonical = [
    'POST',
    '/',
    '',
    names.map((name) => `${name}:${headers[name]}\n`).join(''),
    names.join(';'),
    sha256(body),
  ].join('\n');
  const scope = `${date.slice(0, 8)}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', date, scope, sha256(canonical)].join('\n');
  let signingKey = createHmac('sha256', `AWS4${key.secret}`).update(date.slice(0, 8)).digest();
  for (const part of [region, service, 'aws4_request'])
    signingKey = createHmac('sha256', signingKey).update(part).digest();
  const signature = createHmac('sha256', signingKey).update(toSign).digest('hex');
  const authorization = `AWS4-HMAC-SHA256 Credential=${key.id}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  const sent: Record<string, string> = {
    ...headers,
    authorization: options.authorization ? options.authorization(authorization) : authorization,
    ...options.after,
  };
  delete sent.host;
  const response = await fetch(`${node.url}/`, { method: 'POST', headers: sent, body });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown> & { __type?: string } };
}
