/**
 * Secret paths (names): the one rule of the server's two faces (native and AWS) and of the clients
 * that check paths before asking (the agent). 1–512 characters of AWS's secret-name characters
 * `[A-Za-z0-9/_+=.@-]`, and not exactly `.` or `..` (an HTTP client would collapse that URL segment;
 * inside a longer path `/` is URL-encoded, so any segment is safe). `/prod/db` and `a//b` are paths.
 */
export const secretPathPattern = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

/** What a prefix of a secret path may hold: path characters only (possibly none). */
export const secretPathPrefixPattern = /^[A-Za-z0-9/_+=.@-]*$/;

/** The rule in words, for error messages. */
export const secretPathRule = '1–512 characters of letters, digits and "/", "_", "+", "=", ".", "@", "-"';

/** Whether `path` is a secret path (see `secretPathPattern`). */
export function isSecretPath(path: string): boolean {
  return secretPathPattern.test(path) && path !== '.' && path !== '..';
}
