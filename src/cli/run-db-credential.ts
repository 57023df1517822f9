import {
  CofferApiError,
  type CofferClient,
  type DatabaseRoleRef,
  type DatabaseView,
  type InstanceRef,
  type IssuedCredentialView,
} from '../sdk/index.ts';
import { isDeniedVariable } from '../core/env-deny.ts';
import { note } from './cli-output.ts';
import { CliError } from './cli-error.ts';
import { databaseAndRole } from './db-commands.ts';

const envPrefix = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The variables `coffer run --db-role` sets, for a prefix (`PG` → PGUSER, PGPASSWORD, …). */
export function dbEnvNames(prefix: string): {
  user: string;
  password: string;
  host: string;
  port: string;
  database: string;
  sslmode: string;
} {
  if (!envPrefix.test(prefix))
    throw new CliError(
      `--db-env-prefix takes letters, digits and _ (not starting with a digit), not "${prefix}"`,
    );
  const names = {
    user: `${prefix}USER`,
    password: `${prefix}PASSWORD`,
    host: `${prefix}HOST`,
    port: `${prefix}PORT`,
    database: `${prefix}DATABASE`,
    sslmode: `${prefix}SSLMODE`,
  };
  for (const name of Object.values(names))
    if (isDeniedVariable(name))
      throw new CliError(`--db-env-prefix ${prefix} would set ${name}, which coffer run never sets`);
  return names;
}

/** How long to wait before renewing a lease that has `ttlSeconds` left: 2/3 of it, at least 1 s. */
export function renewDelayMs(ttlSeconds: number): number {
  return Math.max(1000, Math.floor((ttlSeconds * 1000 * 2) / 3));
}

/** The one-line reason of a failed call, without anything the call carried. */
function reason(err: unknown): string {
  if (err instanceof CofferApiError) return `${err.message} (${err.code})`;
  return (err as Error).message;
}

/**
 * A database credential issued for the command `coffer run` starts: its variables, a renewal timer
 * while the command runs (when the lease is renewable), and the revocation when it exits. The
 * password only ever goes into the command's environment; messages name the lease id.
 */
export class RunDbCredential {
  /** The variables for the command's environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly #client: CofferClient;
  readonly #issued: IssuedCredentialView;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  private constructor(client: CofferClient, issued: IssuedCredentialView, env: Record<string, string>) {
    this.#client = client;
    this.#issued = issued;
    this.env = env;
  }

  /**
   * Reads the database connection (for host, port, database, sslmode; skipped with a note when the
   * caller may issue but not read the connection), then issues a credential of `spec`
   * (`DATABASE/ROLE`).
   */
  static async issue(
    client: CofferClient,
    instance: InstanceRef,
    spec: string,
    prefix: string,
  ): Promise<RunDbCredential> {
    const names = dbEnvNames(prefix);
    const ref: DatabaseRoleRef = { ...instance, ...databaseAndRole(spec, undefined) };
    let connection: DatabaseView | undefined;
    try {
      connection = await client.databases.getDatabase(ref);
    } catch (err) {
      if (!(err instanceof CofferApiError && err.code === 'permission_denied')) throw err;
      note(
        `coffer: cannot read database connection ${ref.database} (${err.code}); ` +
          `${names.host}, ${names.port} and ${names.database} are not set`,
      );
    }
    const issued = await client.databases.issue(ref);
    const env: Record<string, string> = {
      [names.user]: issued.username,
      [names.password]: issued.password,
      ...(connection
        ? {
            [names.host]: connection.host,
            [names.port]: String(connection.port),
            [names.database]: connection.database,
            ...(connection.sslmode ? { [names.sslmode]: connection.sslmode } : {}),
          }
        : {}),
    };
    return new RunDbCredential(client, issued, env);
  }

  /** The lease id (not a secret: only its holder and the database's admins may use it). */
  get leaseId(): string {
    return this.#issued.lease.id;
  }

  /** Renews at 2/3 of the TTL left while the command runs, when the lease is renewable. */
  startRenewing(): void {
    if (this.#issued.lease.renewable) this.#schedule(this.#issued.lease.ttl, this.#issued.lease.expireTime);
  }

  #schedule(ttlSeconds: number, expireTime: string): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#renew(expireTime), renewDelayMs(ttlSeconds));
    this.#timer.unref();
  }

  async #renew(expireTime: string): Promise<void> {
    try {
      const lease = await this.#client.leases.renew(this.leaseId, {
        increment: `${this.#issued.lease.ttl}s`,
      });
      if (this.#stopped) return;
      const left = Math.floor((Date.parse(lease.expireTime) - Date.now()) / 1000);
      if (lease.expireTime <= expireTime || lease.expireTime >= lease.maxExpireTime) {
        note(
          `coffer: lease ${this.leaseId} reached its role's max TTL; the credential expires at ${lease.expireTime}`,
        );
        return;
      }
      this.#schedule(Math.min(this.#issued.lease.ttl, Math.max(1, left)), lease.expireTime);
    } catch (err) {
      if (this.#stopped) return;
      note(
        `coffer: renewing lease ${this.leaseId} failed: ${reason(err)}; no more renewals, ` +
          `the credential expires at ${expireTime}`,
      );
    }
  }

  /** Stops renewing and revokes the lease; a failure is reported on stderr, never thrown. */
  async revoke(signal?: AbortSignal): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    try {
      const lease = await this.#client.leases.revoke(this.leaseId, signal ? { signal } : {});
      if (lease.state !== 'revoked')
        note(
          `coffer: lease ${this.leaseId} is ${lease.state}${lease.lastError ? ` (${lease.lastError})` : ''}; ` +
            'the server keeps revoking it',
        );
    } catch (err) {
      note(
        `coffer: revoking lease ${this.leaseId} failed: ${reason(err)}; it expires at ` +
          `${this.#issued.lease.expireTime} (or revoke it with "coffer leases revoke ${this.leaseId}")`,
      );
    }
  }
}
