import { randomInt } from 'node:crypto';
import { CofferError, errors } from '../core/errors.ts';
import { scramSha256Verifier } from '../targets/postgres-scram.ts';
import {
  type PostgresTarget,
  parsePostgresTarget,
  quoteIdentifier,
  quoteLiteral,
  targetFailed,
  testLogin,
  withTargetClient,
} from '../targets/postgres-target.ts';
import type { RotationContext, Rotator } from './rotator.ts';

/**
 * The postgresql rotator: changes the password of an existing PostgreSQL login with admin
 * credentials held in another Coffer secret (`connectionSecret`), the rotated secret's value being
 * PostgresTarget JSON for the rotated user. See docs/rotation.md "PostgreSQL rotator".
 *
 * - `single-user`: one login; `set` replaces its password, so the old one stops working at `set`
 *   (connections already open stay open; new ones need the new value).
 * - `alternate-users`: two logins used in turn; each rotation changes the one that is *not*
 *   current, so the previous credential keeps working until the rotation after next.
 *
 * Roles are never created: a missing role fails `set` with `target_failed` naming it.
 */

/** A postgresql rotator's configuration (validated by the engine's schema). */
export interface PostgresRotatorConfig {
  readonly type: 'postgresql';
  /** Reference to the secret holding the admin's PostgresTarget JSON. */
  readonly connectionSecret: string;
  /** One login changed in place, or two logins used in turn. */
  readonly strategy: 'alternate-users' | 'single-user';
  /** `single-user`: the login (required: never taken from a value). */
  readonly username?: string;
  /** `alternate-users`: the two logins. */
  readonly usernames?: readonly [string, string];
  /** Length of new passwords, 16..128; default 32. */
  readonly passwordLength?: number;
  /**
   * The target, pinned when the rotator is set (the engine fills what is absent from the connection
   * secret's value then). Runs use only these: the connection secret supplies the admin's username
   * and password (and `sslRootCert`), so writing it cannot redirect a rotation elsewhere.
   */
  readonly host?: string;
  readonly port?: number;
  readonly database?: string;
  readonly sslmode?: PostgresTarget['sslmode'];
}

/** A host name or an IP address (as database connections take it). */
const hostPattern = /^[A-Za-z0-9.:_%[\]-]{1,255}$/;

/** The pinned target fields of a postgresql rotator. */
export type PostgresPins = Pick<PostgresTarget, 'host' | 'port' | 'database' | 'sslmode'>;

/** The pins of `config`, or undefined when one is missing (a configuration stored before pinning). */
export function pinsOf(
  config: Pick<PostgresRotatorConfig, 'host' | 'port' | 'database' | 'sslmode'>,
): PostgresPins | undefined {
  const { host, port, database, sslmode } = config;
  if (host === undefined || port === undefined || database === undefined || sslmode === undefined)
    return undefined;
  return { host, port, database, sslmode };
}

/** The default length of a new password. */
export const defaultPasswordLength = 32;

/** Letters and digits: safe in connection strings and URLs without escaping. */
const passwordAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A crypto-random alphanumeric password (`randomInt` rejects out-of-range draws: no modulo bias). */
export function randomPassword(length: number): string {
  let password = '';
  for (let i = 0; i < length; i++) password += passwordAlphabet[randomInt(passwordAlphabet.length)];
  return password;
}

/** Builds the postgresql rotator for `config`. */
export function createPostgresRotator(config: PostgresRotatorConfig): Rotator {
  const passwordLength = config.passwordLength ?? defaultPasswordLength;
  if (!Number.isInteger(passwordLength) || passwordLength < 16 || passwordLength > 128)
    throw errors.invalid('rotation.rotator.passwordLength must be an integer from 16 to 128.');
  if (config.strategy === 'alternate-users') {
    const names = config.usernames;
    if (names?.length !== 2 || !names.every(validRoleName) || names[0] === names[1])
      throw errors.invalid('rotation.rotator.usernames must be two different PostgreSQL role names.');
  } else if (config.strategy === 'single-user') {
    // Required: a role name taken from a value would let whoever may put a value pick the role the
    // admin alters (the admin itself, another team's role).
    if (!validRoleName(config.username))
      throw errors.invalid(
        'rotation.rotator.username is required with strategy single-user and must be a PostgreSQL role name (1..63 bytes).',
      );
  } else {
    throw errors.invalid('rotation.rotator.strategy must be alternate-users or single-user.');
  }
  if (config.host !== undefined && !hostPattern.test(config.host))
    throw errors.invalid('rotation.rotator.host must be a host name or an IP address.');
  if (config.port !== undefined && (!Number.isInteger(config.port) || config.port < 1 || config.port > 65535))
    throw errors.invalid('rotation.rotator.port must be 1 to 65535.');
  if (
    config.database !== undefined &&
    (config.database.length < 1 || Buffer.byteLength(config.database) > 63 || config.database.includes('\0'))
  )
    throw errors.invalid('rotation.rotator.database must be a PostgreSQL database name (1..63 bytes).');
  const connection = `PostgreSQL connection ${config.connectionSecret}`;

  /** The pinned target; a configuration stored before pinning must be set again. */
  function pins(ctx: RotationContext): PostgresPins {
    const pinned = pinsOf(config);
    if (!pinned)
      throw new CofferError(
        'failed_precondition',
        `The postgresql rotator of ${ctx.secretName} has no pinned host, port, database and sslmode; set the rotator again (PATCH rotation) to pin its target.`,
      );
    return pinned;
  }

  /** The admin's login from the connection secret, at the pinned target. */
  async function admin(ctx: RotationContext): Promise<PostgresTarget> {
    const pinned = pins(ctx);
    if (refersTo(ctx.secretName, config.connectionSecret))
      throw new CofferError(
        'failed_precondition',
        `The connectionSecret of ${ctx.secretName} is the rotated secret itself; it must hold other (admin) credentials.`,
      );
    const login = parsePostgresTarget(await ctx.readReference(config.connectionSecret), connection);
    return { ...login, ...pinned };
  }

  function pendingTarget(ctx: RotationContext, pending: Buffer): PostgresTarget {
    const target = parsePostgresTarget(pending, `The pending value of ${ctx.secretName}`);
    // Never act on a role outside the configuration, whatever the stored value says.
    const allowed =
      config.strategy === 'alternate-users'
        ? config.usernames!.includes(target.username)
        : config.username === target.username;
    if (!allowed)
      throw new CofferError(
        'failed_precondition',
        `The pending value of ${ctx.secretName} names a role the rotator is not configured for.`,
      );
    return target;
  }

  return {
    async createValue(ctx) {
      const adminTarget = await admin(ctx);
      // The role comes from the configuration only; the current value only says which of the two
      // configured alternate users is in use.
      let username: string;
      if (config.strategy === 'alternate-users') {
        const [first, second] = config.usernames!;
        username = usernameOf(await ctx.currentValue()) === first ? second : first;
      } else {
        username = config.username!;
      }
      const value = {
        host: adminTarget.host,
        port: adminTarget.port,
        database: adminTarget.database,
        username,
        password: randomPassword(passwordLength),
        sslmode: adminTarget.sslmode,
        ...(adminTarget.sslRootCert !== undefined ? { sslRootCert: adminTarget.sslRootCert } : {}),
      };
      return Buffer.from(JSON.stringify(value), 'utf8');
    },

    async setValue(ctx, pending) {
      const target = pendingTarget(ctx, pending);
      const adminTarget = await admin(ctx);
      const verifier = await scramSha256Verifier(target.password);
      await withTargetClient(
        adminTarget,
        connection,
        async (client) => {
          const found = await client.query('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [
            target.username,
          ]);
          if (found.rowCount === 0)
            throw targetFailed(
              connection,
              new Error(
                `role ${quoteIdentifier(target.username)} does not exist; the postgresql rotator changes passwords of existing roles only (create the role first)`,
              ),
            );
          if (found.rows[0]?.rolcanlogin !== true)
            throw targetFailed(
              connection,
              new Error(
                `role ${quoteIdentifier(target.username)} cannot log in (NOLOGIN); grant it LOGIN first`,
              ),
            );
          // A utility statement takes no bind parameters: both parts are quoted. The literal is a
          // SCRAM verifier, so the cleartext password never reaches the server.
          await client.query(
            `ALTER ROLE ${quoteIdentifier(target.username)} WITH PASSWORD ${quoteLiteral(verifier)}`,
          );
        },
        {},
        [target.password, verifier],
      );
    },

    async testValue(ctx, pending) {
      // The login is tried at the pinned target, whatever the stored value says.
      const target = { ...pendingTarget(ctx, pending), ...pins(ctx) };
      await testLogin(target, `${connection} as role ${quoteIdentifier(target.username)}`);
    },

    async finish() {
      // Nothing to do on PostgreSQL: the password was set at `set` and proven at `test`.
    },
  };
}

/** A role name PostgreSQL keeps as given: 1..63 bytes, no NUL. */
function validRoleName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    Buffer.byteLength(name, 'utf8') <= 63 &&
    !name.includes('\0')
  );
}

/** The `username` of a current value holding JSON, or undefined (no value, other content). */
function usernameOf(value: Buffer | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(value.toString('utf8'));
    const username = (parsed as { username?: unknown } | null)?.username;
    return typeof username === 'string' ? username : undefined;
  } catch {
    return undefined;
  }
}

/** True when `ref` (a path, or a full secret name) names the secret `secretName`. */
function refersTo(secretName: string, ref: string): boolean {
  return ref === secretName || secretName.endsWith(`/secrets/${ref}`);
}
