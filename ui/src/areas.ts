/**
 * The console's page areas, each a chunk of its own, and which area every route's page is in (no
 * React here, so a test or any module can read the table): main.tsx starts fetching the current
 * page's area before React's first render; routes.tsx pairs each pattern with what it renders.
 */
import { match } from './route-match.ts';

/** A chunk's loader: fetches it once; `loaded` is its module once it has arrived (by any caller). */
export interface Loader<T> {
  (): Promise<T>;
  readonly loaded: () => T | undefined;
}

/** Loads a chunk once; a failed load (an old page after a rebuild, the network) may be retried. */
export function once<T>(load: () => Promise<T>): Loader<T> {
  let pending: Promise<T> | undefined;
  let value: T | undefined;
  const get = () =>
    (pending ??= load().then(
      (module) => (value = module),
      (err: unknown) => {
        pending = undefined;
        throw err;
      },
    ));
  return Object.assign(get, { loaded: () => value });
}

/** The areas' chunks, each fetched once. */
export const areas = {
  projects: once(() => import('./pages/projects/projects-pages.ts')),
  secrets: once(() => import('./pages/secrets/secrets-pages.ts')),
  kms: once(() => import('./pages/kms/kms-pages.ts')),
  iam: once(() => import('./pages/iam/iam-pages.ts')),
  audit: once(() => import('./pages/audit/audit-pages.ts')),
};

/** A page area. */
export type Area = keyof typeof areas;

const instance = '/projects/:projectId/regions/:regionId/instances/:instanceId';
const keyRing = '/projects/:projectId/regions/:regionId/keyrings/:keyRingId';

/** Every route's pattern (below /ui) and area; routes.tsx adds what each renders. First match wins. */
export const pages = {
  projects: { pattern: '/projects', area: 'projects' },
  project: { pattern: '/projects/:projectId', area: 'projects' },
  regions: { pattern: '/projects/:projectId/regions', area: 'projects' },
  instances: { pattern: '/projects/:projectId/regions/:regionId', area: 'secrets' },
  instance: { pattern: instance, area: 'secrets' },
  secret: { pattern: `${instance}/secrets/:secret`, area: 'secrets' },
  kms: { pattern: '/projects/:projectId/kms', area: 'kms' },
  keyRing: { pattern: keyRing, area: 'kms' },
  key: { pattern: `${keyRing}/keys/:keyId`, area: 'kms' },
  iam: { pattern: '/projects/:projectId/iam', area: 'iam' },
  serviceAccount: { pattern: '/projects/:projectId/iam/service-accounts/:email', area: 'iam' },
  audit: { pattern: '/projects/:projectId/audit', area: 'audit' },
} as const satisfies Record<string, { pattern: string; area: Area }>;

/** The area of the page at `path` (below /ui), if a route matches it. */
export function areaOf(path: string): Area | undefined {
  return Object.values(pages).find((page) => match(page.pattern, path))?.area;
}

/** Starts fetching `area` (ahead of rendering it); a failure shows when the page renders it. */
export function preload(area: Area): void {
  areas[area]().catch(() => {
    // Rendering the page loads it again and shows the failure.
  });
}
