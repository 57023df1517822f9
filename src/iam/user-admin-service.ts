import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { type Storage, WriteRejected } from '../storage/storage-types.ts';
import { deleteAccessKeysOf } from './access-key-repo.ts';
import type { IamRepo } from './iam-repo.ts';
import { limiterAddress } from './limiter-address.ts';
import { decoyPasswordHash, hashPassword, verifyPassword } from './password.ts';
import { emailPattern, initialAdminPrincipal, isReservedUserEmail, type Principal } from './principal.ts';
import type { RateLimiter } from './rate-limiter.ts';
import { rootResource } from './resource-names.ts';
import { insertToken, revokeTokenByHash } from './token-repo.ts';
import { bearerHash, mintToken, type TokenService } from './token-service.ts';

/** A user's token as listed: metadata only, never the token. */
export interface UserTokenInfo {
  readonly id: string;
  readonly createTimeMs: number;
  readonly expireTimeMs: number | null;
}

const firstAdminEmail = initialAdminPrincipal.slice('user:'.length);

/** Longest session of a user login, and the default. */
export const sessionTtlSeconds = 12 * 3600;

/**
 * Users (SPEC §7): create them and log them in; revocation: disable and enable, list and end
 * sessions, rotate the first admin's root token. Callers are authorized by the route before they get here (permissions held at the root,
 * roles/owner only). Every change goes into the change log and drops this node's token cache, so a
 * revoked credential stops working here at once and on other nodes within the watcher's interval.
 */
export class UserAdminService {
  readonly #storage: Storage;
  readonly #repo: IamRepo;
  readonly #tokens: TokenService;
  readonly #clock: Clock;
  readonly #loginLimiter: RateLimiter;

  constructor(
    storage: Storage,
    repo: IamRepo,
    tokens: TokenService,
    clock: Clock,
    loginLimiter: RateLimiter,
  ) {
    this.#storage = storage;
    this.#repo = repo;
    this.#tokens = tokens;
    this.#clock = clock;
    this.#loginLimiter = loginLimiter;
  }

  /** Creates a user (`user:{email}`); addresses under coffer.internal are reserved. */
  async createUser(email: string, password: string): Promise<{ email: string }> {
    if (!emailPattern.test(email)) throw errors.invalid('email is not a valid address.');
    if (isReservedUserEmail(email))
      throw errors.invalid(
        'Addresses under coffer.internal are reserved for Coffer’s own principals (the first admin, service accounts).',
      );
    if (password.length < 12) throw errors.invalid('password must be at least 12 characters.');
    const hash = await hashPassword(password);
    try {
      await this.#storage.write([this.#repo.insertUser(email, hash, this.#clock.nowMs())]);
    } catch (err) {
      if (err instanceof WriteRejected && err.reason === 'unique')
        throw errors.alreadyExists(`User ${email}`);
      throw err;
    }
    return { email };
  }

  /**
   * Exchanges email and password for a session token. Failed logins are rate-limited per email and
   * per source address, take the same time whether or not the user exists, and say nothing more than
   * `unauthenticated`.
   */
  async login(
    email: string,
    password: string,
    sourceIp: string,
  ): Promise<{ principal: Principal; token: string; expireTimeMs: number }> {
    const address = limiterAddress(sourceIp);
    const waitSeconds = Math.max(
      this.#loginLimiter.blocked(`email:${email}`),
      this.#loginLimiter.blocked(`ip:${address}`),
    );
    if (waitSeconds > 0) {
      throw new CofferError('rate_limited', 'Too many failed logins; retry later.', {
        retryAfterSeconds: waitSeconds,
      });
    }
    // A row with a reserved address (made before they were reserved) never logs in: as the first
    // admin it would be a second, undisablable root credential.
    const user = isReservedUserEmail(email) ? undefined : await this.#repo.findUser(email);
    const ok = await verifyPassword(password, user?.passwordHash ?? decoyPasswordHash);
    if (!user || !ok || user.disabled) {
      this.#loginLimiter.take(`email:${email}`);
      this.#loginLimiter.take(`ip:${address}`);
      throw errors.unauthenticated('The email or password is wrong.');
    }
    const principal = `user:${email}` as Principal;
    const now = this.#clock.nowMs();
    const issued = mintToken(principal, now, sessionTtlSeconds);
    try {
      // Still enabled in the same write: a disable that landed while the password was checked must
      // not leave a session that a later enable revives.
      await this.#storage.write([
        this.#repo.requireEnabledUser(email),
        insertToken(this.#storage.db, issued.row),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected) throw errors.unauthenticated('The email or password is wrong.');
      throw err;
    }
    return { principal, token: issued.token, expireTimeMs: now + sessionTtlSeconds * 1000 };
  }

  /**
   * Ends the caller's own session: the bearer token it authenticated with (a user's session or a
   * service account's token) stops working at once on this node, and on the others within the change
   * watcher's interval (the change drops their token caches). Returns the token's id, for the audit
   * event. The first admin's root token is refused: it has no password to log in again and only its
   * own token can rotate it, so revoking it would lock the break-glass identity out for good.
   */
  async logout(bearer: string, caller: Principal): Promise<{ tokenId: string | undefined }> {
    if (caller === initialAdminPrincipal)
      throw new CofferError(
        'failed_precondition',
        'The first admin’s root token cannot be ended by logging out (nothing could replace it); ' +
          'rotate it with POST /v2/sys/root-token:rotate instead.',
      );
    const [revoked] = await this.#storage.write([
      revokeTokenByHash(this.#storage.db, caller, bearerHash(bearer)),
      this.#repo.recordChange('iam.token.revoke', rootResource, undefined, this.#clock.nowMs()),
    ]);
    this.#tokens.invalidate();
    return { tokenId: (revoked?.[0] as { id?: string } | undefined)?.id };
  }

  /**
   * Disables (or enables) a user. Disabling refuses its logins and revokes every token it has, so a
   * later enable does not bring old sessions back. Nobody disables themself (a lock-out) or the first
   * admin (the break-glass identity: rotate its root token instead).
   */
  async setUserDisabled(
    email: string,
    disabled: boolean,
    caller: Principal,
  ): Promise<{ email: string; disabled: boolean }> {
    refuseFirstAdmin(email, 'The first admin cannot be disabled or enabled');
    if (disabled && caller === `user:${email}`)
      throw new CofferError('failed_precondition', 'A user cannot disable itself.');
    if (!(await this.#repo.findUser(email))) throw errors.notFound(`User ${email}`);
    const principal = `user:${email}`;
    const now = this.#clock.nowMs();
    // The user's row first: a racing login's write waits on it or sees it (see requireEnabledUser).
    await this.#storage.write([
      this.#repo.setUserDisabled(email, disabled),
      ...(disabled ? [this.#repo.revokeAllTokens(principal)] : []),
      this.#repo.recordChange(
        disabled ? 'iam.user.disable' : 'iam.user.enable',
        rootResource,
        undefined,
        now,
      ),
    ]);
    this.#tokens.invalidate();
    return { email, disabled };
  }

  /**
   * A user's live tokens (sessions), metadata only; `not_found` for an unknown user. The first admin's
   * are not listed: they are ended only by its own rotation.
   */
  async listUserTokens(email: string): Promise<UserTokenInfo[]> {
    refuseFirstAdmin(email, 'The first admin’s tokens are not listed or ended here');
    await this.#requireUser(email);
    const now = this.#clock.nowMs();
    const tokens = await this.#repo.listTokens(`user:${email}`);
    return tokens.filter((t) => t.expireTimeMs === null || t.expireTimeMs > now);
  }

  /**
   * Ends one of a user's sessions at once; `not_found` when it is not that user's live token. Another
   * owner ending the first admin's root token would lock it out, which disabling it may not either.
   */
  async revokeUserToken(email: string, tokenId: string): Promise<void> {
    refuseFirstAdmin(email, 'The first admin’s tokens are not listed or ended here');
    await this.#requireUser(email);
    try {
      await this.#storage.write([
        this.#repo.revokeToken(`user:${email}`, tokenId),
        this.#repo.recordChange('iam.token.revoke', rootResource, undefined, this.#clock.nowMs()),
      ]);
    } catch (err) {
      if (err instanceof WriteRejected) throw errors.notFound(`Token ${tokenId}`);
      throw err;
    }
    this.#tokens.invalidate();
  }

  /**
   * Replaces the first admin's root token: every token it had is revoked, its AWS access keys are
   * deleted (a leaked root token could have minted one, which would outlive the rotation), and one
   * new token, without expiry, is issued in the same write; the new token is returned once. Only the first admin itself
   * may do it: anyone else would obtain a permanent credential of the most powerful principal (a
   * time-bound owner would outlive its grant) and lock the first admin out. Another owner facing a
   * leaked root token removes the first admin's root binding instead.
   */
  async rotateRootToken(caller: Principal): Promise<{ id: string; token: string; createTimeMs: number }> {
    if (caller !== initialAdminPrincipal)
      throw new CofferError(
        'permission_denied',
        `Only the first admin (${initialAdminPrincipal}) may rotate its root token.`,
      );
    const now = this.#clock.nowMs();
    const issued = mintToken(initialAdminPrincipal, now);
    await this.#storage.write([
      this.#repo.revokeAllTokens(initialAdminPrincipal),
      deleteAccessKeysOf(this.#storage.db, initialAdminPrincipal),
      insertToken(this.#storage.db, issued.row),
      this.#repo.recordChange('sys.root_token.rotate', rootResource, undefined, now),
    ]);
    this.#tokens.invalidate();
    return { id: issued.id, token: issued.token, createTimeMs: now };
  }

  async #requireUser(email: string): Promise<void> {
    if (!(await this.#repo.findUser(email))) throw errors.notFound(`User ${email}`);
  }
}

/**
 * The first admin is the break-glass identity: nobody disables it or lists or ends its tokens (its
 * sessions would be another owner's to end); only its own rotation replaces its root token.
 */
function refuseFirstAdmin(email: string, refusal: string): void {
  if (email === firstAdminEmail)
    throw new CofferError(
      'failed_precondition',
      `${refusal}; it rotates its own root token with POST /v2/sys/root-token:rotate.`,
    );
}
