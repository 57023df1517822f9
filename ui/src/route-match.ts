/** Route patterns below /ui (`/projects/:projectId`, a trailing `*` for the rest), without React. */

/** The console's base path; every route is below it. */
export const base = '/ui';

/** A URL's pathname as a path below /ui (`/ui/projects` → `/projects`; anything else → `/`). */
export function pathBelowBase(pathname: string): string {
  return pathname === base ? '/' : pathname.startsWith(`${base}/`) ? pathname.slice(base.length) : '/';
}

/** Matches `path` against `pattern` (`:name` segments; a trailing `*` matches the rest). */
export function match(pattern: string, target: string): Record<string, string> | null {
  const want = pattern.split('/').filter(Boolean);
  const have = target.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const part = want[i]!;
    if (part === '*') {
      params['*'] = have
        .slice(i)
        .map((s) => decode(s) ?? s)
        .join('/');
      return params;
    }
    const value = have[i];
    if (value === undefined) return null;
    if (part.startsWith(':')) {
      const decoded = decode(value);
      if (decoded === null) return null;
      params[part.slice(1)] = decoded;
    } else if (part !== value) return null;
  }
  return want.length === have.length ? params : null;
}

function decode(value: string): string | null {
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}
