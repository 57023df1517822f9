/** The KMS area's pages: one chunk, loaded lazily (ui/src/routes.tsx); the playground is its own. */
export { KeyPage } from './KeyPage.tsx';
export { KeyRingPage } from './KeyRingPage.tsx';
export { KmsPage } from './KmsPage.tsx';
