import { CofferError } from '../../core/errors.ts';

/** Node socket error codes that mean the server cannot be reached. */
const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/**
 * SQLSTATEs that mean the database is not usable now: connection exceptions (class 08), shutdown and
 * "cannot connect now" (57P01–57P03), too many connections or no resources (class 53), bad password
 * (28P01, 28000) and a missing database (3D000).
 */
function isUnavailableSqlState(code: string): boolean {
  return (
    code.startsWith('08') ||
    code.startsWith('53') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    code === '28P01' ||
    code === '28000' ||
    code === '3D000'
  );
}

/** pg's own messages for a connection that broke or could not be made in time. */
const connectionMessages =
  /connection terminated|timeout exceeded when trying to connect|connection error|not queryable|Connection refused/i;

/** True when `err` says the database is down or unreachable rather than refusing a statement. */
export function isConnectionFailure(err: unknown): boolean {
  if (err instanceof CofferError) return err.code === 'storage_unavailable';
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (networkCodes.has(code) || isUnavailableSqlState(code))) return true;
  // An AggregateError (IPv4 and IPv6 both refused) carries the codes on its members.
  if (err instanceof AggregateError) return err.errors.some(isConnectionFailure);
  return connectionMessages.test(err.message);
}

/** Where a PostgreSQL URL points, as `host:port/database`: safe to log, never the user or password. */
export function describePostgresTarget(url: string): string {
  try {
    const parsed = new URL(url);
    // A unix socket directory may be given as ?host=/run/postgresql.
    const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost';
    const port = parsed.port || parsed.searchParams.get('port') || '5432';
    const database =
      decodeURIComponent(parsed.pathname.replace(/^\//, '')) ||
      decodeURIComponent(parsed.username) ||
      'postgres';
    return `${host}:${port}/${database}`;
  } catch {
    return 'PostgreSQL (unparsable URL)';
  }
}

/**
 * True when PostgreSQL refused a parameter's text itself: a NUL character in `text` (22021, "invalid
 * byte sequence for encoding UTF8: 0x00"), `\u0000` in JSON (22P05), or an unpaired surrogate in
 * JSON (22P02 raised by the JSON parser; other 22P02s, such as a bad integer, are the code's bugs).
 * SQLite stores both, so they are the client's input that only this engine cannot hold.
 */
function isUnstorableText(err: Error): boolean {
  const { code, routine } = err as { code?: unknown; routine?: unknown };
  if (code === '22021' || code === '22P05') return true;
  return code === '22P02' && typeof routine === 'string' && routine.startsWith('json');
}

/**
 * Turns a driver error into what callers see: a connection failure becomes `storage_unavailable`
 * naming `host:port/db` (never the URL or the password); text PostgreSQL cannot store (NUL, an
 * unpaired surrogate) becomes `invalid_argument`, whose message never echoes the value (pg's
 * `detail` and `where` quote it); any other error is returned unchanged.
 */
export function toStorageError(err: unknown, target: string, secrets: readonly string[]): unknown {
  if (err instanceof CofferError) return err;
  if (err instanceof Error && isUnstorableText(err)) {
    return new CofferError(
      'invalid_argument',
      'A text field holds a NUL character or an unpaired surrogate, which cannot be stored.',
    );
  }
  if (!isConnectionFailure(err)) return err;
  let reason =
    err instanceof AggregateError && err.message === '' ? String(err.errors[0]) : (err as Error).message;
  for (const secret of secrets) if (secret.length > 0) reason = reason.split(secret).join('***');
  return new CofferError('storage_unavailable', `PostgreSQL at ${target} is unavailable: ${reason}`, {
    cause: err,
  });
}
