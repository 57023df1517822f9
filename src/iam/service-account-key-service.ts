import { createPublicKey, generateKeyPair, randomBytes } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { clampPageSize, decodePageToken, type Page, toPage } from '../core/pagination.ts';
import {
  maxAssertionLifetimeSeconds,
  type ServiceAccountKeyAlgorithm,
  tokenEndpointPath,
} from '../core/service-account-key-names.ts';
import { type Storage, WriteRejected } from '../storage/storage-types.ts';
import type { Authorizer } from './authorizer.ts';
import type { IamRepo, ServiceAccount } from './iam-repo.ts';
import { limiterAddress } from './limiter-address.ts';
import type { Permission } from './permissions.ts';
import type { Principal } from './principal.ts';
import type { RateLimiter } from './rate-limiter.ts';
import type { ServiceAccountKey, ServiceAccountKeyRepo } from './service-account-key-repo.ts';
import { mintToken, type TokenService } from './token-service.ts';

/** What minting a key needs on the account (the route's guard checks them too). */
const keyMintPermissions: readonly Permission[] = [
  'iam.service_account_keys.create',
  'iam.service_accounts.act_as',
];

/** What enabling a key needs on the account: it revives a credential, like minting one. */
const keyEnablePermissions: readonly Permission[] = [
  'iam.service_account_keys.enable',
  'iam.service_accounts.act_as',
];

/** A token's lifetime when the exchange asks for none (or the configured maximum, if shorter). */
const defaultTokenTtlSeconds = 3600;

/** Clock skew tolerated on `iat`, `exp` and `nbf`. */
const clockSkewSeconds = 60;
/** Extra time a used jti is kept beyond `exp` + twice the skew. */
const jtiMarginMs = 5 * 60_000;
const jtiPattern = /^[\x21-\x7e]{1,128}$/;
const keyIdPattern = /^[0-9a-f]{40}$/;

/** One answer for every refused assertion: it never says which account or key exists. */
const refused = () =>
  errors.unauthenticated('The assertion is invalid, expired, already used, or not signed by a usable key.');

/**
 * The key id an assertion claims (its header's `kid`), unverified: for the audit event of a refused
 * exchange, so that attempts against one key can be found. Undefined when it is not a key id.
 */
export function claimedKeyId(assertion: string): string | undefined {
  try {
    const kid = decodeProtectedHeader(assertion).kid;
    return typeof kid === 'string' && keyIdPattern.test(kid) ? kid : undefined;
  } catch {
    return undefined;
  }
}

/** A created key: its stored public half, and the private key (PKCS#8 PEM) to hand out once. */
export interface CreatedServiceAccountKey {
  readonly key: ServiceAccountKey;
  readonly privateKeyPem: string;
}

/** A token exchanged for an assertion. */
export interface ExchangedToken {
  readonly principal: Principal;
  readonly keyId: string;
  readonly tokenId: string;
  readonly token: string;
  readonly expireTimeMs: number;
}

/** What the service is built from. */
export interface ServiceAccountKeyServiceDeps {
  readonly storage: Storage;
  readonly repo: ServiceAccountKeyRepo;
  readonly iamRepo: IamRepo;
  readonly authorizer: Authorizer;
  readonly tokens: TokenService;
  readonly clock: Clock;
  /** The sensitive limiter (logins): failed exchanges spend from their address's budget. */
  readonly limiter: RateLimiter;
  /** The server's public base URL, if configured: `{publicUrl}/v2/auth/token` is an accepted audience. */
  readonly publicUrl: string | undefined;
  /** Longest token an exchange yields (seconds); the default is 1 h or this, if shorter. */
  readonly maxTokenTtlSeconds: number;
}

/**
 * Service-account keys (issue 13 §2): key pairs whose private half is handed out once as a key file,
 * and the exchange of a short-lived JWT assertion signed with one (RFC 7523) for a bearer token.
 * Callers of the key routes are authorized by the route first; the exchange authenticates by the
 * signature alone. Disabling or deleting a key stops its exchanges at once and revokes the tokens
 * it yielded, on every node (change log).
 */
export class ServiceAccountKeyService {
  readonly #deps: ServiceAccountKeyServiceDeps;
  readonly #audiences: string[];
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: ServiceAccountKeyServiceDeps) {
    this.#deps = deps;
    const base = deps.publicUrl?.replace(/\/+$/, '');
    this.#audiences = base ? [tokenEndpointPath, `${base}${tokenEndpointPath}`] : [tokenEndpointPath];
  }

  /** The token endpoint a key file names (its `tokenUri`, and the audience its assertions name). */
  get tokenUri(): string {
    return this.#audiences.at(-1)!;
  }

  /**
   * Creates a key pair for an account and returns the private key once. A caller holding the
   * permissions to mint it only through time-bound bindings gets a key that expires when they do:
   * no credential outlives the grant that made it.
   */
  async createKey(
    projectId: string,
    email: string,
    algorithm: ServiceAccountKeyAlgorithm,
    expireTimeMs: number | undefined,
    caller: Principal,
  ): Promise<CreatedServiceAccountKey> {
    await this.#account(projectId, email);
    const resource = accountResource(projectId, email);
    const heldUntil = await this.#deps.authorizer.heldUntil(caller, keyMintPermissions, resource);
    if (heldUntil === undefined) throw errors.denied('iam.service_accounts.act_as', resource);
    const now = this.#deps.clock.nowMs();
    if (expireTimeMs !== undefined && expireTimeMs <= now)
      throw errors.invalid('expireTime must be in the future.');
    const expiry = Math.min(expireTimeMs ?? Number.POSITIVE_INFINITY, heldUntil);
    const pair = await generatePair(algorithm);
    const key: ServiceAccountKey = {
      id: randomBytes(20).toString('hex'),
      serviceAccount: email,
      projectId,
      algorithm,
      publicKey: pair.publicKeyPem,
      disabled: false,
      createTimeMs: now,
      expireTimeMs: expiry === Number.POSITIVE_INFINITY ? null : expiry,
    };
    await this.#deps.storage.write([
      this.#deps.repo.insertKey(key),
      this.#deps.iamRepo.recordChange('iam.service_account_key.create', resource, projectId, now, caller),
    ]);
    return { key, privateKeyPem: pair.privateKeyPem };
  }

  /** A page of an account's keys (public halves and state). */
  async listKeys(
    projectId: string,
    email: string,
    pageSize?: number,
    pageToken?: string,
  ): Promise<Page<ServiceAccountKey>> {
    await this.#account(projectId, email);
    const size = clampPageSize(pageSize);
    const rows = await this.#deps.repo.listKeys(email, decodePageToken(pageToken), size + 1);
    return toPage(rows, size, (k) => k.id);
  }

  /** One key of an account; `not_found` otherwise. */
  async getKey(projectId: string, email: string, keyId: string): Promise<ServiceAccountKey> {
    await this.#account(projectId, email);
    const key = await this.#deps.repo.findKey(keyId);
    if (!key || key.serviceAccount !== email) throw errors.notFound(`Key ${keyId}`);
    return key;
  }

  /**
   * Disables or enables a key. Disabling refuses its exchanges at once and revokes every token it
   * yielded (enabling brings none of them back). Enabling revives a credential of the account, so it
   * needs act_as like creating one, and a caller holding it only through time-bound bindings caps
   * the key's expiry at the earliest of them.
   */
  async setKeyDisabled(
    projectId: string,
    email: string,
    keyId: string,
    disabled: boolean,
    caller: Principal,
  ): Promise<ServiceAccountKey> {
    const key = await this.getKey(projectId, email, keyId);
    const { repo, iamRepo, clock } = this.#deps;
    const resource = accountResource(projectId, email);
    let expireTimeMs = key.expireTimeMs;
    if (!disabled) {
      const heldUntil = await this.#deps.authorizer.heldUntil(caller, keyEnablePermissions, resource);
      if (heldUntil === undefined) throw errors.denied('iam.service_accounts.act_as', resource);
      if (heldUntil < (expireTimeMs ?? Number.POSITIVE_INFINITY)) expireTimeMs = heldUntil;
    }
    const kind = disabled ? 'iam.service_account_key.disable' : 'iam.service_account_key.enable';
    await this.#change(keyId, [
      repo.setKeyDisabled(email, keyId, disabled, expireTimeMs),
      ...(disabled ? [repo.revokeTokensOfKey(keyId)] : []),
      iamRepo.recordChange(kind, resource, projectId, clock.nowMs(), caller),
    ]);
    return { ...key, disabled, expireTimeMs };
  }

  /** Deletes a key: its exchanges stop and the tokens it yielded are revoked, at once. */
  async deleteKey(projectId: string, email: string, keyId: string, caller: Principal): Promise<void> {
    await this.getKey(projectId, email, keyId);
    const { repo, iamRepo, clock } = this.#deps;
    await this.#change(keyId, [
      repo.deleteKey(email, keyId),
      repo.revokeTokensOfKey(keyId),
      iamRepo.recordChange(
        'iam.service_account_key.delete',
        accountResource(projectId, email),
        projectId,
        clock.nowMs(),
        caller,
      ),
    ]);
  }

  /**
   * Exchanges a JWT assertion (RFC 7523) for a bearer token of the account that signed it. The
   * assertion names the key (`kid`), the account (`iss` = `sub`), the token endpoint (`aud`), and
   * carries `iat`, `exp` (at most an hour later) and a `jti` that is never accepted twice. The jti,
   * the token and a check that the key is still usable commit in one unit, so two nodes cannot
   * both accept one assertion. Every refusal is the same `unauthenticated`.
   */
  async exchange(
    assertion: string,
    ttlSeconds: number | undefined,
    sourceIp: string,
  ): Promise<ExchangedToken> {
    const { limiter, maxTokenTtlSeconds } = this.#deps;
    if (ttlSeconds !== undefined && (ttlSeconds < 1 || ttlSeconds > maxTokenTtlSeconds)) {
      this.refuseMalformed(sourceIp);
      throw errors.invalid(`ttl must be between 1s and ${maxTokenTtlSeconds}s.`);
    }
    const budgetKey = `token-ip:${limiterAddress(sourceIp)}`;
    const waitSeconds = limiter.blocked(budgetKey);
    if (waitSeconds > 0)
      throw new CofferError('rate_limited', 'Too many failed token exchanges; retry later.', {
        retryAfterSeconds: waitSeconds,
      });
    try {
      return await this.#exchange(
        assertion,
        ttlSeconds ?? Math.min(defaultTokenTtlSeconds, maxTokenTtlSeconds),
      );
    } catch (err) {
      if (err instanceof CofferError && err.code === 'unauthenticated') limiter.take(budgetKey);
      throw err;
    }
  }

  /**
   * A malformed exchange request spends its address's budget like a bad assertion, so a client
   * cannot probe the endpoint for free; once the budget is spent it is refused with `rate_limited`.
   */
  refuseMalformed(sourceIp: string): void {
    const budgetKey = `token-ip:${limiterAddress(sourceIp)}`;
    const waitSeconds = this.#deps.limiter.blocked(budgetKey);
    if (waitSeconds > 0)
      throw new CofferError('rate_limited', 'Too many failed token exchanges; retry later.', {
        retryAfterSeconds: waitSeconds,
      });
    this.#deps.limiter.take(budgetKey);
  }

  /** Forgets assertion ids whose assertions have expired (they can no longer be replayed). */
  async pruneJtis(): Promise<void> {
    await this.#deps.storage.write([this.#deps.repo.pruneJtis(this.#deps.clock.nowMs())]);
  }

  /** Prunes expired assertion ids every `intervalMs` until stopped. */
  start(intervalMs: number, onError: (err: unknown) => void): void {
    this.#timer = setInterval(() => void this.pruneJtis().catch(onError), intervalMs);
    this.#timer.unref();
  }

  /** Stops the pruning timer. */
  stop(): void {
    clearInterval(this.#timer);
  }

  async #exchange(assertion: string, ttlSeconds: number): Promise<ExchangedToken> {
    const { repo, iamRepo, clock, storage } = this.#deps;
    let kid: unknown;
    try {
      kid = decodeProtectedHeader(assertion).kid;
    } catch {
      throw refused();
    }
    if (typeof kid !== 'string' || !keyIdPattern.test(kid)) throw refused();
    const key = await repo.findKey(kid);
    const now = clock.nowMs();
    if (!key || key.disabled || (key.expireTimeMs !== null && key.expireTimeMs <= now)) throw refused();
    let claims: { iat?: number; exp?: number; jti?: string };
    try {
      ({ payload: claims } = await jwtVerify(assertion, createPublicKey(key.publicKey), {
        algorithms: [key.algorithm],
        issuer: key.serviceAccount,
        subject: key.serviceAccount,
        audience: this.#audiences,
        requiredClaims: ['iss', 'sub', 'aud', 'iat', 'exp', 'jti'],
        clockTolerance: clockSkewSeconds,
        currentDate: new Date(now),
      }));
    } catch {
      throw refused();
    }
    const { iat, exp, jti } = claims;
    // Whole seconds only (RFC 7519 NumericDate may be fractional; ours never is): the jti's expiry is
    // stored as an integer, and a fraction would let it be pruned while the assertion is accepted.
    if (typeof iat !== 'number' || typeof exp !== 'number' || typeof jti !== 'string') throw refused();
    if (!Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) throw refused();
    if (!jtiPattern.test(jti)) throw refused();
    // Short-lived only: an hour at most, and never issued in the future.
    if (exp - iat > maxAssertionLifetimeSeconds || exp <= iat) throw refused();
    if (iat * 1000 > now + clockSkewSeconds * 1000) throw refused();
    const account = await iamRepo.findServiceAccount(key.serviceAccount);
    if (!account || account.disabled || account.projectId !== key.projectId) throw refused();
    const principal = `serviceAccount:${account.email}` as Principal;
    const issued = mintToken(principal, now, ttlSeconds, key.expireTimeMs ?? Number.POSITIVE_INFINITY);
    try {
      await storage.write([
        repo.requireKeyUsable(key.id, now),
        // Kept well past the last moment the assertion can be accepted (exp + skew): twice the skew
        // and a margin, so neither a node whose clock is behind nor the pruner can revive it.
        repo.insertJti(account.email, jti, (exp + 2 * clockSkewSeconds) * 1000 + jtiMarginMs),
        repo.insertKeyToken(issued.row, key.id),
      ]);
    } catch (err) {
      // A replayed jti, or the key disabled or deleted in the meantime.
      if (err instanceof WriteRejected) throw refused();
      throw err;
    }
    return {
      principal,
      keyId: key.id,
      tokenId: issued.id,
      token: issued.token,
      expireTimeMs: issued.row.expireTimeMs!,
    };
  }

  async #account(projectId: string, email: string): Promise<ServiceAccount> {
    const account = await this.#deps.iamRepo.findServiceAccount(email);
    if (!account || account.projectId !== projectId) throw errors.notFound(`Service account ${email}`);
    return account;
  }

  async #change(keyId: string, statements: Parameters<Storage['write']>[0]): Promise<void> {
    try {
      await this.#deps.storage.write(statements);
    } catch (err) {
      if (err instanceof WriteRejected) throw errors.notFound(`Key ${keyId}`);
      throw err;
    }
    this.#deps.tokens.invalidate();
  }
}

/** The resource name of a service account. */
function accountResource(projectId: string, email: string): string {
  return `projects/${projectId}/service-accounts/${email}`;
}

function generatePair(
  algorithm: ServiceAccountKeyAlgorithm,
): Promise<{ publicKeyPem: string; privateKeyPem: string }> {
  const encoding = {
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  } as const;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, publicKeyPem: string, privateKeyPem: string) =>
      err ? reject(err) : resolve({ publicKeyPem, privateKeyPem });
    if (algorithm === 'RS256') generateKeyPair('rsa', { modulusLength: 2048, ...encoding }, done);
    else if (algorithm === 'ES256') generateKeyPair('ec', { namedCurve: 'P-256', ...encoding }, done);
    else generateKeyPair('ed25519', encoding, done);
  });
}
