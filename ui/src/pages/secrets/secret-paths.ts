/**
 * API and console paths of projects, regions, instances and secrets. Every segment is encoded; a
 * secret's path (`app/db/password`) is one segment (`app%2Fdb%2Fpassword`) in both.
 */
import { seg } from '../../api/client.ts';
import { path } from '../../router.tsx';

/** Where an instance lives. */
export interface InstancePlace {
  readonly projectId: string;
  readonly regionId: string;
  readonly instanceId: string;
}

/** Where a secret lives. */
export interface SecretPlace extends InstancePlace {
  readonly secret: string;
}

/** `/v2/projects/{p}` */
export const projectApi = (projectId: string): string => `/v2/projects/${seg(projectId)}`;

/** `/v2/projects/{p}/regions/{r}/instances` */
export const instancesApi = (projectId: string, regionId: string): string =>
  `${projectApi(projectId)}/regions/${seg(regionId)}/instances`;

/** `/v2/…/instances/{i}` */
export const instanceApi = (p: InstancePlace): string =>
  `${instancesApi(p.projectId, p.regionId)}/${seg(p.instanceId)}`;

/** `/v2/…/secrets/{secret}` */
export const secretApi = (p: SecretPlace): string => `${instanceApi(p)}/secrets/${seg(p.secret)}`;

/** Console page of a project. */
export const projectPage = (projectId: string): string => path('projects', projectId);

/** Console page of a region (its instances). */
export const regionPage = (projectId: string, regionId: string): string =>
  path('projects', projectId, 'regions', regionId);

/** Console page of an instance (its secrets). */
export const instancePage = (p: InstancePlace): string =>
  path('projects', p.projectId, 'regions', p.regionId, 'instances', p.instanceId);

/** Console page of a secret. */
export const secretPage = (p: SecretPlace): string =>
  path('projects', p.projectId, 'regions', p.regionId, 'instances', p.instanceId, 'secrets', p.secret);

/** A date-time for people (the browser's locale), or a dash. */
export function when(timestamp: string | null | undefined): string {
  return timestamp ? new Date(timestamp).toLocaleString() : '—';
}

/**
 * Labels typed as `key=value` terms separated by spaces or new lines (`env=prod team=payments`);
 * throws a message for a term without `=`.
 */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const term of text.split(/\s+/).filter(Boolean)) {
    const at = term.indexOf('=');
    if (at <= 0) throw new Error(`"${term}" is not key=value`);
    labels[term.slice(0, at)] = term.slice(at + 1);
  }
  return labels;
}
