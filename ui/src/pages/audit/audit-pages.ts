/** The audit area's page: one chunk, loaded lazily (ui/src/routes.tsx). */
export { AuditPage } from './AuditPage.tsx';
