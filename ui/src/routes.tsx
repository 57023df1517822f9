/**
 * The console's routing table (paths below /ui). Pages of ui-shell: projects → regions → instances
 * → secrets → secret. KMS, IAM and audit pages are added below their comment.
 */
import type { Route } from './router.tsx';
import { ProjectsPage } from './pages/projects/ProjectsPage.tsx';

/** Every route, first match wins. */
export const routes: readonly Route[] = [
  { pattern: '/projects', render: () => <ProjectsPage /> },
  // KMS, IAM and audit pages (ui-pages).
];
