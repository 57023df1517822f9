/**
 * The console's routing table (paths below /ui). Pages of ui-shell: projects → regions → instances
 * → secrets → secret. KMS, IAM and audit pages are added below their comment.
 */
import type { Route } from './router.tsx';
import { ProjectPage } from './pages/projects/ProjectPage.tsx';
import { ProjectsPage } from './pages/projects/ProjectsPage.tsx';
import { InstancePage } from './pages/secrets/InstancePage.tsx';
import { InstancesPage } from './pages/secrets/InstancesPage.tsx';
import { SecretPage } from './pages/secrets/SecretPage.tsx';
import { AuditPage } from './pages/audit/AuditPage.tsx';
import { IamPage } from './pages/iam/IamPage.tsx';
import { ServiceAccountPage } from './pages/iam/ServiceAccountPage.tsx';
import { KeyPage } from './pages/kms/KeyPage.tsx';
import { KeyRingPage } from './pages/kms/KeyRingPage.tsx';
import { KmsPage } from './pages/kms/KmsPage.tsx';

/** Every route, first match wins. */
export const routes: readonly Route[] = [
  { pattern: '/projects', render: () => <ProjectsPage /> },
  { pattern: '/projects/:projectId', render: (p) => <ProjectPage projectId={p.projectId!} /> },
  { pattern: '/projects/:projectId/regions', render: (p) => <ProjectPage projectId={p.projectId!} /> },
  {
    pattern: '/projects/:projectId/regions/:regionId',
    render: (p) => <InstancesPage projectId={p.projectId!} regionId={p.regionId!} />,
  },
  {
    pattern: '/projects/:projectId/regions/:regionId/instances/:instanceId',
    render: (p) => (
      <InstancePage projectId={p.projectId!} regionId={p.regionId!} instanceId={p.instanceId!} />
    ),
  },
  {
    pattern: '/projects/:projectId/regions/:regionId/instances/:instanceId/secrets/:secret',
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
  { pattern: '/projects/:projectId/kms', render: (p) => <KmsPage projectId={p.projectId!} /> },
  {
    pattern: '/projects/:projectId/regions/:regionId/keyrings/:keyRingId',
    render: (p) => <KeyRingPage projectId={p.projectId!} regionId={p.regionId!} keyRingId={p.keyRingId!} />,
  },
  {
    pattern: '/projects/:projectId/regions/:regionId/keyrings/:keyRingId/keys/:keyId',
    render: (p) => (
      <KeyPage projectId={p.projectId!} regionId={p.regionId!} keyRingId={p.keyRingId!} keyId={p.keyId!} />
    ),
  },
  { pattern: '/projects/:projectId/iam', render: (p) => <IamPage projectId={p.projectId!} /> },
  {
    pattern: '/projects/:projectId/iam/service-accounts/:email',
    render: (p) => <ServiceAccountPage projectId={p.projectId!} email={p.email!} />,
  },
  { pattern: '/projects/:projectId/audit', render: (p) => <AuditPage projectId={p.projectId!} /> },
];
