/**
 * The console's only way to the server: fetch on the public /v2 API with the session's bearer token.
 * Failures throw ApiError with the API's code, message and request id (never a stack); a 401 signs
 * out, which shows the sign-in page.
 */
import { getSession, signOut } from '../session.ts';

/** A failed API call as the API answered it. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
  ) {
    super(message);
  }
}

/** A page of a list answer. */
export interface Page<T> {
  readonly items: T[];
  readonly nextPageToken?: string;
}

/** Query parameters; undefined and empty values are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** Options of one call. */
export interface CallOptions {
  readonly query?: Query;
  readonly body?: unknown;
  readonly signal?: AbortSignal;
  /** Send no bearer token (login). */
  readonly anonymous?: boolean;
  /** A token to use instead of the session's (checking a pasted token before signing in). */
  readonly token?: string;
}

/** Encodes one path segment (ids, names, secret paths are always encoded, never spliced raw). */
export { seg } from '../url-safety.ts';

function urlOf(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {}))
    if (value !== undefined && value !== '') params.set(name, String(value));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

async function errorOf(response: Response): Promise<ApiError> {
  const requestId = response.headers.get('x-request-id');
  try {
    const body = (await response.json()) as {
      error?: { code?: unknown; message?: unknown; requestId?: unknown };
    };
    const error = body.error;
    if (error && typeof error.message === 'string')
      return new ApiError(
        response.status,
        typeof error.code === 'string' ? error.code : 'unknown',
        error.message,
        typeof error.requestId === 'string' ? error.requestId : requestId,
      );
  } catch {
    // not JSON
  }
  return new ApiError(response.status, 'unknown', `The server answered ${response.status}.`, requestId);
}

/** Calls the API; resolves to the parsed JSON answer (undefined for 204). */
export async function api<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  if (!path.startsWith('/v2/')) throw new Error('the console calls only the /v2 API');
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = options.token ?? (options.anonymous ? undefined : getSession()?.token);
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(urlOf(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
      signal: options.signal ?? null,
      credentials: 'omit',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'The server could not be reached.', null);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && !options.anonymous && options.token === undefined) signOut('rejected');
    throw error;
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** GET shorthand. */
export function get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
  return api<T>('GET', path, { ...(query ? { query } : {}), ...(signal ? { signal } : {}) });
}

/** Which of `permissions` the caller holds on the resource whose API path is `resourcePath`. */
export async function testPermissions(
  resourcePath: string,
  permissions: readonly string[],
): Promise<Set<string>> {
  const answer = await api<{ permissions: string[] }>('POST', `${resourcePath}/iam:test-permissions`, {
    body: { permissions },
  });
  return new Set(answer.permissions);
}

/**
 * Signs out: a session this console made by signing in is also ended on the server
 * (`POST /v2/auth/logout`, sent with the token before it is forgotten; best effort: the tab is
 * signed out whatever the server answers or if it cannot be reached). A pasted token may be in use
 * elsewhere (a service account's, the CLI's) and is only forgotten.
 */
export function signOutAndRevoke(): void {
  const session = getSession();
  if (session?.signedInHere)
    api('POST', '/v2/auth/logout', { token: session.token }).catch(() => {
      // Signed out here all the same; the token still expires at its expireTime.
    });
  signOut();
}
