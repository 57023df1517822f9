/** The projects area's pages: one chunk, loaded lazily (ui/src/routes.tsx). */
export { ProjectPage } from './ProjectPage.tsx';
export { ProjectsPage } from './ProjectsPage.tsx';
