import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import pg from 'pg';
import { CofferError, errors } from '../core/errors.ts';

/**
 * A PostgreSQL server Coffer acts on (a rotation target, a dynamic-credential database): the JSON a
 * Coffer secret holds. `dbname` is accepted for `database` (the shape AWS rotation secrets use).
 */
export const PostgresTargetJson = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 255 }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    database: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
    dbname: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
    username: Type.String({ minLength: 1, maxLength: 63 }),
    password: Type.String({ maxLength: 1024 }),
    sslmode: Type.Optional(
      Type.Union([Type.Literal('disable'), Type.Literal('require'), Type.Literal('verify-full')]),
    ),
    sslRootCert: Type.Optional(Type.String({ maxLength: 65536 })),
  },
  { additionalProperties: true },
);

/** Where and as whom to connect. */
export interface PostgresTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly username: string;
  readonly password: string;
  readonly sslmode: 'disable' | 'require' | 'verify-full';
  readonly sslRootCert?: string;
}

/** Time limits of a target connection. */
export interface TargetTimeouts {
  readonly connectTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
}

/**
 * Parses a secret value holding PostgreSQL connection JSON. `what` names the secret in the error,
 * which never repeats the value.
 */
export function parsePostgresTarget(value: Buffer | string, what: string): PostgresTarget {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (!Value.Check(PostgresTargetJson, parsed) || (parsed.database ?? parsed.dbname) === undefined)
    throw errors.invalid(
      `${what} does not hold PostgreSQL connection JSON ({host, port, database, username, password}).`,
    );
  const json = parsed as Static<typeof PostgresTargetJson>;
  return {
    host: json.host,
    port: json.port ?? 5432,
    database: (json.database ?? json.dbname)!,
    username: json.username,
    password: json.password,
    sslmode: json.sslmode ?? 'disable',
    ...(json.sslRootCert !== undefined ? { sslRootCert: json.sslRootCert } : {}),
  };
}

/** `target` as another user (a rotated or issued credential), same server and database. */
export function asUser(target: PostgresTarget, username: string, password: string): PostgresTarget {
  return { ...target, username, password };
}

/** A PostgreSQL identifier, quoted (`"a""b"`): safe for any name. */
export function quoteIdentifier(name: string): string {
  if (name.includes('\0')) throw errors.invalid('A PostgreSQL name cannot contain NUL.');
  return pg.escapeIdentifier(name);
}

/** A PostgreSQL string literal, quoted (`'a''b'`, `E'…'` when it holds a backslash). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw errors.invalid('A PostgreSQL literal cannot contain NUL.');
  return pg.escapeLiteral(value);
}

/** The values a statement template may name: `{{name}}` (identifier), `{{password}}`, `{{expiration}}`. */
export interface TemplateValues {
  readonly name: string;
  readonly password?: string;
  readonly expiration?: string;
}

/**
 * Renders statement templates: `{{name}}` becomes a quoted identifier, `{{password}}` and
 * `{{expiration}}` quoted literals; any other `{{…}}` is refused.
 */
export function renderStatements(templates: readonly string[], values: TemplateValues): string[] {
  return templates.map((template) =>
    template.replace(/\{\{\s*([a-zA-Z_]+)\s*\}\}/g, (_match, key: string) => {
      if (key === 'name') return quoteIdentifier(values.name);
      if (key === 'password' && values.password !== undefined) return quoteLiteral(values.password);
      if (key === 'expiration' && values.expiration !== undefined) return quoteLiteral(values.expiration);
      throw errors.invalid(`Unknown or unavailable placeholder {{${key}}} in a statement.`);
    }),
  );
}

/**
 * Connects to `target` (as its user) and runs `fn`; the client is closed whatever happens. Any
 * failure becomes `target_failed` naming `what`, never a credential (see `targetFailed`): the
 * target's password and every string of `redact` (a password `fn` sets) are cut out.
 */
export async function withTargetClient<T>(
  target: PostgresTarget,
  what: string,
  fn: (client: pg.Client) => Promise<T>,
  timeouts: TargetTimeouts = {},
  redact: readonly string[] = [],
): Promise<T> {
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.username,
    password: target.password,
    connectionTimeoutMillis: timeouts.connectTimeoutMs ?? 5000,
    statement_timeout: timeouts.statementTimeoutMs ?? 10_000,
    application_name: 'coffer',
    ssl:
      target.sslmode === 'disable'
        ? false
        : {
            rejectUnauthorized: target.sslmode === 'verify-full',
            ...(target.sslRootCert ? { ca: target.sslRootCert } : {}),
          },
  });
  // A connection that drops later must not crash the process; the query in flight fails instead.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } catch (err) {
    throw targetFailed(what, err, [target.password, ...redact]);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Logs in as `target`'s user and runs `SELECT 1`: proves a credential works. */
export async function testLogin(
  target: PostgresTarget,
  what: string,
  timeouts?: TargetTimeouts,
): Promise<void> {
  await withTargetClient(target, what, async (client) => void (await client.query('SELECT 1')), timeouts);
}

/**
 * `target_failed` for an error of a target: names `what`, keeps PostgreSQL's SQLSTATE and message
 * with every string of `redact` (passwords) cut out, and drops the stack. A `CofferError` passes.
 */
export function targetFailed(what: string, err: unknown, redact: readonly string[] = []): CofferError {
  if (err instanceof CofferError) return err;
  const e = err as { code?: string; message?: string };
  let message = typeof e?.message === 'string' ? e.message : 'unknown error';
  for (const secret of redact) if (secret.length > 0) message = message.split(secret).join('[redacted]');
  if (message.length > 300) message = `${message.slice(0, 300)}…`;
  const reason =
    e?.code === '28P01' || e?.code === '28000'
      ? `the credential was refused (${e.code})`
      : typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)
        ? `${message} (SQLSTATE ${e.code})`
        : message;
  return new CofferError('target_failed', `${what}: ${reason}`);
}
