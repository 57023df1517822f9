/**
 * The console's routing table (paths below /ui): each route of areas.ts's `pages` (its pattern and
 * area) with what it renders. Pages of ui-shell: projects → regions → instances → secrets → secret;
 * then KMS, IAM and audit. Each area is a chunk of its own, loaded on first use (lazy-page.tsx).
 */
import { areas, pages } from './areas.ts';
import { lazyPage } from './lazy-page.tsx';
import type { Route } from './router.tsx';

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
  { ...pages.projects, render: () => <ProjectsPage /> },
  { ...pages.project, render: (p) => <ProjectPage projectId={p.projectId!} /> },
  { ...pages.regions, render: (p) => <ProjectPage projectId={p.projectId!} /> },
  { ...pages.instances, render: (p) => <InstancesPage projectId={p.projectId!} regionId={p.regionId!} /> },
  {
    ...pages.instance,
    render: (p) => (
      <InstancePage projectId={p.projectId!} regionId={p.regionId!} instanceId={p.instanceId!} />
    ),
  },
  {
    ...pages.secret,
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
  { ...pages.kms, render: (p) => <KmsPage projectId={p.projectId!} /> },
  {
    ...pages.keyRing,
    render: (p) => <KeyRingPage projectId={p.projectId!} regionId={p.regionId!} keyRingId={p.keyRingId!} />,
  },
  {
    ...pages.key,
    render: (p) => (
      <KeyPage projectId={p.projectId!} regionId={p.regionId!} keyRingId={p.keyRingId!} keyId={p.keyId!} />
    ),
  },
  { ...pages.iam, render: (p) => <IamPage projectId={p.projectId!} /> },
  {
    ...pages.serviceAccount,
    render: (p) => <ServiceAccountPage projectId={p.projectId!} email={p.email!} />,
  },
  { ...pages.audit, render: (p) => <AuditPage projectId={p.projectId!} /> },
];
