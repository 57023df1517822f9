import { randomBytes } from 'node:crypto';
import type { CofferServer } from '../lib/coffer-server.ts';
import type { RequestSpec } from '../lib/wrk.ts';

/** Size of the plaintext the KMS issue names. */
export const plaintextBytes = 256;

/** A key made for the benchmark and the two request bodies that use it. */
export interface BenchKey {
  /** `/v2/projects/{p}/regions/local/keyrings/{ring}/keys/{key}`. */
  readonly keyPath: string;
  readonly plaintext: string;
  /** A ciphertext of `plaintext` under the key (the decrypt body). */
  readonly ciphertext: string;
}

/** Creates a project, a key ring and an `aes256-gcm96` key, and one ciphertext to decrypt. */
export async function createBenchKey(server: CofferServer): Promise<BenchKey> {
  const project = await server.call<{ id: string }>('POST', '/v2/projects', {}, 201);
  const ringsPath = `/v2/projects/${project.id}/regions/local/keyrings`;
  const ring = await server.call<{ id: string }>('POST', ringsPath, { displayName: 'bench' }, 201);
  const key = await server.call<{ id: string }>(
    'POST',
    `${ringsPath}/${ring.id}/keys`,
    { algorithm: 'aes256-gcm96' },
    201,
  );
  const keyPath = `${ringsPath}/${ring.id}/keys/${key.id}`;
  const plaintext = randomBytes(plaintextBytes).toString('base64');
  const encrypted = await server.call<{ ciphertext: string; keyVersion: number }>(
    'POST',
    `${keyPath}/encrypt`,
    { plaintext },
  );
  const decrypted = await server.call<{ plaintext: string }>('POST', `${keyPath}/decrypt`, {
    ciphertext: encrypted.ciphertext,
  });
  if (decrypted.plaintext !== plaintext) throw new Error('decrypt did not return the encrypted plaintext');
  return { keyPath, plaintext, ciphertext: encrypted.ciphertext };
}

/** The headers every candidate request carries. */
export function jsonHeaders(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
}

/** The encrypt and decrypt requests of `key`. */
export function kmsRequests(
  server: CofferServer,
  key: BenchKey,
): { encrypt: RequestSpec; decrypt: RequestSpec } {
  const headers = jsonHeaders(server.token);
  return {
    encrypt: {
      method: 'POST',
      path: `${key.keyPath}/encrypt`,
      headers,
      body: JSON.stringify({ plaintext: key.plaintext }),
    },
    decrypt: {
      method: 'POST',
      path: `${key.keyPath}/decrypt`,
      headers,
      body: JSON.stringify({ ciphertext: key.ciphertext }),
    },
  };
}

/** The baseline request: same method, headers and body as encrypt, to the bare server's `/`. */
export function baselineLike(request: RequestSpec): RequestSpec {
  return { ...request, path: '/' };
}

/** Sends `request` once and checks it answers 200 with a JSON body having `field`. */
export async function checkOnce(baseUrl: string, request: RequestSpec, field: string): Promise<void> {
  const response = await fetch(`${baseUrl}${request.path}`, {
    method: request.method,
    headers: request.headers,
    ...(request.body === undefined ? {} : { body: request.body }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 200) {
    throw new Error(`${request.method} ${request.path} answered ${response.status}: ${text}`);
  }
  if (!(field in (JSON.parse(text) as Record<string, unknown>))) {
    throw new Error(`${request.method} ${request.path} answered without "${field}": ${text}`);
  }
}
