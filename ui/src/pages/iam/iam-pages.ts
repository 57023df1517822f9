/** The IAM area's pages: one chunk, loaded lazily (ui/src/routes.tsx). */
export { IamPage } from './IamPage.tsx';
export { ServiceAccountPage } from './ServiceAccountPage.tsx';
