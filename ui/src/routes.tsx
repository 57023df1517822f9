/**
 * The console's routing table (paths below /ui). Pages of ui-shell: projects → regions → instances
 * → secrets → secret; then KMS, IAM and audit. Each area is a chunk of its own, loaded on first use
 * (lazy-page.tsx); a route's `preload` fetches its area ahead of rendering.
 */
import { lazyPage, once } from './lazy-page.tsx';
import { match, type Route } from './router.tsx';

/** The areas' chunks, each fetched once. */
export const areas = {
  projects: once(() => import('./pages/projects/projects-pages.ts')),
  secrets: once(() => import('./pages/secrets/secrets-pages.ts')),
  kms: once(() => import('./pages/kms/kms-pages.ts')),
  iam: once(() => import('./pages/iam/iam-pages.ts')),
  audit: once(() => import('./pages/audit/audit-pages.ts')),
};

const ProjectsPage = lazyPage(areas.projects, (a) => a.ProjectsPage);
const ProjectPage = lazyPage(areas.projects, (a) => a.ProjectPage);
const InstancesPage = lazyPage(areas.secrets, (a) => a.InstancesPage);
const InstancePage = lazyPage(areas.secrets, (a) => a.InstancePage);
const SecretPage = lazyPage(areas.secrets, (a) => a.SecretPage);
const KmsPage = lazyPage(areas.kms, (a) => a.KmsPage);
const KeyRingPage = lazyPage(areas.kms, (a) => a.KeyRingPage);
const KeyPage = lazyPage(areas.kms, (a) => a.KeyPage);
const IamPage = lazyPage(areas.iam, (a) => a.IamPage);
const ServiceAccountPage = lazyPage(areas.iam, (a) => a.ServiceAccountPage);
const AuditPage = lazyPage(areas.audit, (a) => a.AuditPage);

/** Every route, first match wins. */
export const routes: readonly Route[] = [
  { pattern: '/projects', preload: areas.projects, render: () => <ProjectsPage /> },
  {
    pattern: '/projects/:projectId',
    preload: areas.projects,
    render: (p) => <ProjectPage projectId={p.projectId!} />,
  },
  {
    pattern: '/projects/:projectId/regions',
    preload: areas.projects,
    render: (p) => <ProjectPage projectId={p.projectId!} />,
  },
  {
    pattern: '/projects/:projectId/regions/:regionId',
    preload: areas.secrets,
    render: (p) => <InstancesPage projectId={p.projectId!} regionId={p.regionId!} />,
  },
  {
    pattern: '/projects/:projectId/regions/:regionId/instances/:instanceId',
    preload: areas.secrets,
    render: (p) => (
      <InstancePage projectId={p.projectId!} regionId={p.regionId!} instanceId={p.instanceId!} />
    ),
  },
  {
    pattern: '/projects/:projectId/regions/:regionId/instances/:instanceId/secrets/:secret',
    preload: areas.secrets,
    render: (p) => (
      <SecretPage
        projectId={p.projectId!}
        regionId={p.regionId!}
        instanceId={p.instanceId!}
        secret={p.secret!}
      />
    ),
  },
  // KMS, IAM and audit pages (ui-pages).
  {
    pattern: '/projects/:projectId/kms',
    preload: areas.kms,
    render: (p) => <KmsPage projectId={p.projectId!} />,
  },
  {
    pattern: '/projects/:projectId/regions/:regionId/keyrings/:keyRingId',
    preload: areas.kms,
    render: (p) => <KeyRingPage projectId={p.projectId!} regionId={p.regionId!} keyRingId={p.keyRingId!} />,
  },
  {
    pattern: '/projects/:projectId/regions/:regionId/keyrings/:keyRingId/keys/:keyId',
    preload: areas.kms,
    render: (p) => (
      <KeyPage projectId={p.projectId!} regionId={p.regionId!} keyRingId={p.keyRingId!} keyId={p.keyId!} />
    ),
  },
  {
    pattern: '/projects/:projectId/iam',
    preload: areas.iam,
    render: (p) => <IamPage projectId={p.projectId!} />,
  },
  {
    pattern: '/projects/:projectId/iam/service-accounts/:email',
    preload: areas.iam,
    render: (p) => <ServiceAccountPage projectId={p.projectId!} email={p.email!} />,
  },
  {
    pattern: '/projects/:projectId/audit',
    preload: areas.audit,
    render: (p) => <AuditPage projectId={p.projectId!} />,
  },
];

/** Starts fetching the area of the route at `target` (a path below /ui), if any. */
export function preloadRoute(target: string): void {
  const route = routes.find((r) => match(r.pattern, target));
  route?.preload?.().catch(() => {
    // Rendering the route loads it again and shows the failure.
  });
}
