/** The secrets area's pages: one chunk, loaded lazily (ui/src/routes.tsx). */
export { InstancePage } from './InstancePage.tsx';
export { InstancesPage } from './InstancesPage.tsx';
export { SecretPage } from './SecretPage.tsx';
