/**
 * A small history router (no dependency): the console lives under /ui/, routes are patterns like
 * `/projects/:projectId`, links are real <a href> elements (keyboard, middle-click, copy link), and
 * navigation is pushState. Parameters are decoded once; pages re-encode them for the API (client.ts).
 */
import { Fragment, type MouseEvent, type ReactNode, useSyncExternalStore } from 'react';
import { base, match, pathBelowBase } from './route-match.ts';
import { isConsolePath, seg } from './url-safety.ts';

/** The console's base path, and route matching (route-match.ts, without React). */
export { base, match } from './route-match.ts';

const listeners = new Set<() => void>();
function notify(): void {
  for (const listener of listeners) listener();
}
window.addEventListener('popstate', notify);

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The current location below /ui (path like `/projects/p1`, search string with its `?`). */
export interface Place {
  readonly path: string;
  readonly search: string;
}

let cachedHref = '';
let cachedPlace: Place = { path: '/', search: '' };
function snapshot(): Place {
  const href = window.location.pathname + window.location.search;
  if (href !== cachedHref) {
    cachedHref = href;
    cachedPlace = { path: pathBelowBase(window.location.pathname), search: window.location.search };
  }
  return cachedPlace;
}

/** The current place; re-renders on navigation. */
export function usePlace(): Place {
  return useSyncExternalStore(subscribe, snapshot);
}

/** Whether a path is the console's own (return paths are checked with it: no open redirect). */
export { isConsolePath } from './url-safety.ts';

/** Navigates to a console path (`/projects/…`); `replace` keeps the history entry. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const target = isConsolePath(to) ? to : '/';
  const url = base + (target === '/' ? '/' : target);
  if (options.replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  notify();
  window.scrollTo(0, 0);
}

/** Joins path segments, each encoded (`path('projects', id)` → `/projects/<id>`). */
export function path(...segments: readonly string[]): string {
  return '/' + segments.map((s) => seg(s)).join('/');
}

/** A link inside the console. */
export function Link(props: {
  readonly to: string;
  readonly children: ReactNode;
  readonly className?: string;
  readonly 'aria-current'?: 'page';
}): ReactNode {
  const { to, children, ...rest } = props;
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={base + to} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}

/** A route: a pattern below /ui and what it renders with its decoded parameters. */
export interface Route {
  readonly pattern: string;
  readonly render: (params: Readonly<Record<string, string>>) => ReactNode;
}

/** Renders the first route matching the current place, or `fallback`. */
export function Router(props: {
  readonly routes: readonly Route[];
  readonly fallback: ReactNode;
}): ReactNode {
  const place = usePlace();
  for (const route of props.routes) {
    const params = match(route.pattern, place.path);
    // Keyed by route and parameters: another secret (or page) is a fresh mount, so nothing of the
    // previous one (a revealed value) survives navigation.
    if (params) return <Fragment key={`${route.pattern} ${place.path}`}>{route.render(params)}</Fragment>;
  }
  return props.fallback;
}
