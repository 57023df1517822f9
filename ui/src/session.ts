/**
 * The signed-in session: the bearer token lives in memory and in sessionStorage only (one tab, gone
 * when the tab closes), never in localStorage, a cookie or a URL. Sign-out and expiry clear both.
 */

/** A signed-in session. */
export interface Session {
  readonly token: string;
  /** Who signed in (the email), or "token" for a pasted token. */
  readonly who: string;
  /** When the token expires (RFC 3339), when known. */
  readonly expireTime: string | null;
  /**
   * Whether this console made the token by signing in (email and password): sign-out ends it on the
   * server. A pasted token (a service account's, one the CLI uses) is only forgotten.
   */
  readonly signedInHere?: boolean;
}

const storageKey = 'coffer.session';
let current: Session | null = null;
/** Why the last session ended, for the sign-in page. */
export type EndReason = 'signed-out' | 'expired' | 'rejected';
let lastEnd: EndReason | null = null;
let expiryTimer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<() => void>();

function isSession(value: unknown): value is Session {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.token === 'string' &&
    v.token.length > 0 &&
    typeof v.who === 'string' &&
    (v.expireTime === null || typeof v.expireTime === 'string') &&
    (v.signedInHere === undefined || typeof v.signedInHere === 'boolean')
  );
}

function expired(session: Session): boolean {
  return session.expireTime !== null && Date.parse(session.expireTime) <= Date.now();
}

function notify(): void {
  for (const listener of listeners) listener();
}

function armExpiry(session: Session | null): void {
  clearTimeout(expiryTimer);
  expiryTimer = undefined;
  if (session?.expireTime == null) return;
  // setTimeout's delay is a 32-bit number of milliseconds; longer sessions re-arm when it fires.
  const delay = Math.min(Date.parse(session.expireTime) - Date.now(), 2 ** 31 - 1);
  expiryTimer = setTimeout(
    () => {
      if (current && expired(current)) signOut('expired');
      else armExpiry(current);
    },
    Math.max(delay, 0),
  );
}

/** The session of this tab, read from sessionStorage once; null when signed out or expired. */
export function getSession(): Session | null {
  if (current) {
    if (!expired(current)) return current;
    // Read during rendering: clear without notifying (the caller renders the sign-in page now).
    clear('expired');
    return null;
  }
  try {
    const raw = sessionStorage.getItem(storageKey);
    const parsed: unknown = raw ? JSON.parse(raw) : null;
    if (isSession(parsed) && !expired(parsed)) {
      current = parsed;
      armExpiry(current);
      return current;
    }
    if (raw) sessionStorage.removeItem(storageKey);
  } catch {
    // Storage unavailable or corrupt: signed out.
  }
  return null;
}

/** Starts a session (after a login or a pasted token that the API accepted). */
export function signIn(session: Session): void {
  current = session;
  lastEnd = null;
  try {
    sessionStorage.setItem(storageKey, JSON.stringify(session));
  } catch {
    // Memory only (storage disabled): the session ends with the page.
  }
  armExpiry(session);
  notify();
}

/** Why the last session of this page ended (null when none ended). */
export function lastEndReason(): EndReason | null {
  return lastEnd;
}

/** Ends the session: memory and sessionStorage are cleared; every listener re-renders. */
export function signOut(reason: EndReason = 'signed-out'): void {
  if (clear(reason)) notify();
}

function clear(reason: EndReason): boolean {
  const had = current !== null;
  if (had) lastEnd = reason;
  current = null;
  armExpiry(null);
  try {
    sessionStorage.removeItem(storageKey);
  } catch {
    // nothing stored
  }
  return had;
}

/** Subscribes to sign-in and sign-out (for React's useSyncExternalStore). */
export function subscribeSession(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
