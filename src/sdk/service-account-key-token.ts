import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type CryptoKey, importPKCS8, SignJWT } from 'jose';
import type { ServiceAccountKeyFile, TokenExchangeView } from '../core/api/service-account-key-schemas.ts';
import {
  jwtBearerGrantType,
  maxAssertionLifetimeSeconds,
  serviceAccountKeyAlgorithms,
  tokenEndpointPath,
} from '../core/service-account-key-names.ts';
import { HttpTransport } from './http-transport.ts';
import { CofferApiError, CofferConnectionError } from './sdk-errors.ts';

/** How a key-file token source reaches the server and when it renews. */
export interface ServiceAccountKeyTokenOptions {
  /** Base URL of the server, e.g. `https://coffer.example.com:8270`. */
  readonly address: string;
  /** The token lifetime to ask for (the server caps it; default: the server's default, 1 h). */
  readonly ttlSeconds?: number;
  /** Renew once this fraction of a token's lifetime has passed (default 0.8). */
  readonly renewAfterFraction?: number;
  /** Lifetime of each signed assertion (default 300 s, at most 3600 s). */
  readonly assertionLifetimeSeconds?: number;
  /** Attempts per exchange on 429, 503 and network errors, each with a fresh assertion (default 4). */
  readonly maxAttempts?: number;
  /** Per-attempt timeout in ms (default 30 s). */
  readonly timeoutMs?: number;
  /** The clock in ms since the epoch (default `Date.now`); tests inject their own. */
  readonly now?: () => number;
  /** The fetch to use (default the global one). */
  readonly fetch?: typeof fetch;
}

/** After a failed renewal while the current token still works, wait this long before trying again. */
const retryAfterFailureMs = 5_000;
/** Consecutive failures double that wait, up to this (a disabled key must not flood the server). */
const maxRetryAfterFailureMs = 60_000;
/** A token this close to its expiry is not handed out any more. */
const expiryMarginMs = 5_000;

/** Reads and checks a key file (a path, JSON text, or the parsed object); errors name the bad field. */
export function readServiceAccountKeyFile(source: string | ServiceAccountKeyFile): ServiceAccountKeyFile {
  let parsed: unknown = source;
  let where = 'the key file';
  if (typeof source === 'string') {
    let text = source;
    if (!source.trimStart().startsWith('{')) {
      where = source;
      try {
        text = readFileSync(source, 'utf8');
      } catch (err) {
        throw new Error(
          `cannot read the key file ${source} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
          { cause: err },
        );
      }
    }
    try {
      parsed = JSON.parse(text);
    } catch {
      // Never the parser's error: V8 quotes the text around the fault, which may be the private key.
      throw new Error(`${where} is not JSON`);
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error(`${where} must hold a JSON object`);
  const file = parsed as Record<string, unknown>;
  if (file.type !== 'service_account') throw new Error(`${where}: type must be "service_account"`);
  for (const field of ['projectId', 'clientEmail', 'privateKeyId', 'privateKey', 'tokenUri'] as const) {
    if (typeof file[field] !== 'string' || file[field] === '')
      throw new Error(`${where}: ${field} must be a non-empty string`);
  }
  if (!serviceAccountKeyAlgorithms.includes(file.algorithm as never))
    throw new Error(`${where}: algorithm must be one of ${serviceAccountKeyAlgorithms.join(', ')}`);
  return file as unknown as ServiceAccountKeyFile;
}

/**
 * Signs a JWT assertion for `POST /v2/auth/token` (RFC 7523): `iss` = `sub` = the account, `aud` =
 * the key file's `tokenUri`, a fresh `jti`, header `kid` = the key id. Exported for callers that
 * exchange assertions themselves.
 */
export async function signServiceAccountAssertion(
  keyFile: ServiceAccountKeyFile,
  key: CryptoKey,
  nowMs: number,
  lifetimeSeconds = 300,
): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: keyFile.algorithm, kid: keyFile.privateKeyId, typ: 'JWT' })
    .setIssuer(keyFile.clientEmail)
    .setSubject(keyFile.clientEmail)
    .setAudience(keyFile.tokenUri)
    .setIssuedAt(iat)
    .setExpirationTime(iat + lifetimeSeconds)
    .setJti(randomUUID())
    .sign(key);
}

interface CurrentToken {
  readonly token: string;
  readonly renewAtMs: number;
  readonly expireTimeMs: number;
}

/**
 * Bearer tokens for a machine holding a service-account key file: exchanges a signed assertion at
 * `POST /v2/auth/token` and renews before the token expires: once `renewAfterFraction` of its
 * lifetime has passed, a call starts a renewal in the background and still answers the current
 * token; only a caller with no usable token (none yet, or within 5 s of expiry) waits for the
 * exchange. Concurrent callers share one exchange. After a failure the next exchange waits 5 s,
 * doubling per consecutive failure up to 60 s; meanwhile a caller without a usable token gets the
 * last error at once (a disabled key or a down server is not hammered once per call).
 */
export class ServiceAccountKeyTokenSource {
  /** The key file's service account. */
  readonly clientEmail: string;
  readonly #keyFile: ServiceAccountKeyFile;
  readonly #transport: HttpTransport;
  readonly #now: () => number;
  readonly #ttlSeconds: number | undefined;
  readonly #renewAfter: number;
  readonly #assertionSeconds: number;
  readonly #maxAttempts: number;
  #key: Promise<CryptoKey> | undefined;
  #current: CurrentToken | undefined;
  #inflight: Promise<string> | undefined;
  #retryNotBeforeMs = 0;
  #failures = 0;
  #lastError: unknown;

  constructor(keyFile: ServiceAccountKeyFile, options: ServiceAccountKeyTokenOptions) {
    this.#keyFile = readServiceAccountKeyFile(keyFile);
    this.clientEmail = keyFile.clientEmail;
    this.#transport = new HttpTransport({
      address: options.address,
      retry: { maxAttempts: 1 },
      userAgent: 'coffer-sdk (service-account key)',
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.#now = options.now ?? Date.now;
    this.#ttlSeconds = options.ttlSeconds;
    const fraction = options.renewAfterFraction ?? 0.8;
    if (!(fraction > 0 && fraction < 1)) throw new Error('renewAfterFraction must be between 0 and 1');
    this.#renewAfter = fraction;
    const assertion = options.assertionLifetimeSeconds ?? 300;
    if (!(Number.isInteger(assertion) && assertion >= 1 && assertion <= maxAssertionLifetimeSeconds))
      throw new Error(
        `assertionLifetimeSeconds must be a whole number from 1 to ${maxAssertionLifetimeSeconds}`,
      );
    this.#assertionSeconds = assertion;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 4);
  }

  /** A valid bearer token: the current one, or a fresh one when it is due for renewal. */
  async getToken(): Promise<string> {
    const current = this.#current;
    const now = this.#now();
    if (current && now < current.renewAtMs) return current.token;
    if (current && now < current.expireTimeMs - expiryMarginMs) {
      // Due for renewal but still good: renew in the background, so a slow or unreachable server
      // never holds up a caller while the current token works (a failure is retried after 5 s).
      if (now >= this.#retryNotBeforeMs) this.#renew().catch(() => undefined);
      return current.token;
    }
    // Failing: answer the last error until the backoff has passed, instead of one exchange per call.
    if (this.#failures > 0 && now < this.#retryNotBeforeMs) throw this.#lastError;
    return this.#renew();
  }

  /** Runs one exchange, or joins the one in flight. */
  #renew(): Promise<string> {
    this.#inflight ??= this.#exchange().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  /** When the current token expires (ms since the epoch), if there is one. */
  get expireTimeMs(): number | undefined {
    return this.#current?.expireTimeMs;
  }

  async #exchange(): Promise<string> {
    this.#key ??= importPKCS8(this.#keyFile.privateKey, this.#keyFile.algorithm).catch((err: unknown) => {
      this.#key = undefined;
      throw new Error(`the key file's privateKey cannot be read as ${this.#keyFile.algorithm} PKCS#8`, {
        cause: err,
      });
    });
    const key = await this.#key;
    for (let attempt = 1; ; attempt++) {
      const sentAtMs = this.#now();
      try {
        // A fresh assertion per attempt: the server refuses a jti it has seen, even from a lost answer.
        const assertion = await signServiceAccountAssertion(
          this.#keyFile,
          key,
          sentAtMs,
          this.#assertionSeconds,
        );
        const view = await this.#transport.send<TokenExchangeView>({
          method: 'POST',
          path: tokenEndpointPath,
          body: {
            grantType: jwtBearerGrantType,
            assertion,
            ...(this.#ttlSeconds !== undefined ? { ttl: `${this.#ttlSeconds}s` } : {}),
          },
        });
        const expireTimeMs = Date.parse(view.expireTime);
        const lifetimeMs = Math.max(1000, (Number.isNaN(expireTimeMs) ? sentAtMs : expireTimeMs) - sentAtMs);
        this.#current = {
          token: view.token,
          renewAtMs: sentAtMs + lifetimeMs * this.#renewAfter,
          expireTimeMs: sentAtMs + lifetimeMs,
        };
        this.#retryNotBeforeMs = 0;
        this.#failures = 0;
        this.#lastError = undefined;
        return view.token;
      } catch (err) {
        const retryable =
          err instanceof CofferConnectionError ||
          (err instanceof CofferApiError &&
            (err.status === 429 || err.status === 503) &&
            (err.retryAfterSeconds ?? 0) <= 30);
        if (!retryable || attempt >= this.#maxAttempts) {
          this.#failures++;
          this.#lastError = err;
          this.#retryNotBeforeMs =
            this.#now() + Math.min(maxRetryAfterFailureMs, retryAfterFailureMs * 2 ** (this.#failures - 1));
          throw err;
        }
        const backoffMs = Math.random() * Math.min(5_000, 100 * 2 ** (attempt - 1));
        const askedMs = err instanceof CofferApiError ? (err.retryAfterSeconds ?? 0) * 1000 : 0;
        await new Promise((resolve) => setTimeout(resolve, Math.max(backoffMs, askedMs)));
      }
    }
  }
}

/** A token source for a key file (a path, its JSON text, or the parsed object). */
export function serviceAccountKeyToken(
  keyFile: string | ServiceAccountKeyFile,
  options: ServiceAccountKeyTokenOptions,
): ServiceAccountKeyTokenSource {
  return new ServiceAccountKeyTokenSource(readServiceAccountKeyFile(keyFile), options);
}

/**
 * A `tokenProvider` for `new CofferClient({ address, tokenProvider })` from the key file at `keyFile`
 * (a path): the file is read and checked now (a bad file throws here), the token is exchanged on the
 * first call and renewed before it expires.
 */
export function serviceAccountKeyTokenProvider(
  keyFile: string,
  options: ServiceAccountKeyTokenOptions,
): () => Promise<string> {
  const source = serviceAccountKeyToken(keyFile, options);
  return () => source.getToken();
}
