import type { Command } from 'commander';
import {
  CofferApiError,
  type CofferClient,
  type InstanceRef,
  iteratePages,
  type KeyRef,
  type KeyRingRef,
  type PageResult,
  type RegionRef,
  type SecretRef,
} from '../sdk/index.ts';
import { cliContext } from './cli-context.ts';
import { CliError } from './cli-error.ts';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Collects every item of a list, up to `limit`. */
export async function collect<T>(
  fetchPage: (pageToken: string | undefined) => Promise<PageResult<T>>,
  limit?: number,
): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iteratePages(fetchPage)) {
    if (limit !== undefined && items.length >= limit) break;
    items.push(item);
  }
  return items;
}

/** Finds the one item whose id or name is `wanted`; a one-line error when none or several match. */
function one<T>(items: readonly T[], wanted: string, what: string, names: (item: T) => string[]): T {
  const matches = items.filter((item) => names(item).includes(wanted));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0)
    throw new CliError(
      `${what} "${wanted}" not found among those you may list; give its id if you may use it but not list it`,
    );
  throw new CliError(`${what} "${wanted}" is ambiguous (${matches.length} match); use its id`);
}

/** The project id: --project / COFFER_PROJECT / the profile; a UUID, or a display name looked up. */
export async function resolveProject(
  command: Command,
  client: CofferClient,
  wanted = cliContext(command).project,
): Promise<string> {
  if (!wanted)
    throw new CliError(
      'no project: pass --project, set COFFER_PROJECT, or save one with "coffer login --project ID"',
    );
  if (uuid.test(wanted)) return wanted.toLowerCase();
  const projects = await listing(
    'the projects',
    'GET /v2/projects',
    'Give the project id with --project ID or COFFER_PROJECT',
    () => collect((pageToken) => client.projects.list(pageToken ? { pageToken } : {})),
  );
  return one(projects, wanted, 'project', (p) => [p.id, p.displayName]).id;
}

/** The project and region (--region / COFFER_REGION, default `local`). */
export async function resolveRegion(command: Command, client: CofferClient): Promise<RegionRef> {
  return { projectId: await resolveProject(command, client), regionId: cliContext(command).region };
}

/**
 * Runs a listing the CLI needs to turn a name into an id; when the server refuses it, says which call
 * was refused, with the server's own message, and which flag makes the listing unnecessary.
 */
async function listing<T>(what: string, call: string, instead: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof CofferApiError && err.code === 'permission_denied')
      throw new CliError(
        `listing ${what} (${call}) was denied: ${err.message} ${instead} (no listing is needed then)`,
      );
    throw err;
  }
}

/**
 * The instance: --instance / COFFER_INSTANCE / the profile, as an id or a name, sent as given: the
 * server takes a name where the id goes and checks the caller's rights on the instance it names, so
 * a caller allowed one secret needs no right to list instances. When none is given and the region
 * has exactly one instance, that one (which needs the listing).
 */
export async function resolveInstance(
  command: Command,
  client: CofferClient,
  wanted = cliContext(command).instance,
): Promise<InstanceRef> {
  const region = await resolveRegion(command, client);
  if (wanted) return { ...region, instanceId: uuid.test(wanted) ? wanted.toLowerCase() : wanted };
  const instances = await listing(
    'the instances',
    `GET /v2/projects/${region.projectId}/regions/${region.regionId}/instances`,
    'Name the instance with --instance NAME or COFFER_INSTANCE',
    () => collect((pageToken) => client.secrets.listInstances(region, pageToken ? { pageToken } : {})),
  );
  if (instances.length === 1) return { ...region, instanceId: instances[0]!.id };
  if (instances.length === 0)
    throw new CliError(
      `no instance in project ${region.projectId} region ${region.regionId}: create one with "coffer instances create NAME"`,
    );
  throw new CliError(
    `several instances here (${instances.map((i) => i.name).join(', ')}): pass --instance or set COFFER_INSTANCE`,
  );
}

/** A secret of the context's instance. */
export async function resolveSecret(
  command: Command,
  client: CofferClient,
  path: string,
): Promise<SecretRef> {
  return { ...(await resolveInstance(command, client)), secret: path };
}

/** A key ring by id or display name. */
export async function resolveKeyRing(
  command: Command,
  client: CofferClient,
  wanted: string | undefined,
): Promise<KeyRingRef> {
  if (!wanted) throw new CliError('no key ring: pass --keyring (its id or display name)');
  const region = await resolveRegion(command, client);
  if (uuid.test(wanted)) return { ...region, keyRingId: wanted.toLowerCase() };
  const rings = await collect((pageToken) => client.kms.listKeyRings(region, pageToken ? { pageToken } : {}));
  return { ...region, keyRingId: one(rings, wanted, 'key ring', (r) => [r.id, r.displayName]).id };
}

/** A key by id or slug, in the key ring named by --keyring. */
export async function resolveKey(
  command: Command,
  client: CofferClient,
  ring: string | undefined,
  wanted: string,
): Promise<KeyRef> {
  const keyRing = await resolveKeyRing(command, client, ring);
  if (uuid.test(wanted)) return { ...keyRing, keyId: wanted.toLowerCase() };
  const keys = await collect((pageToken) => client.kms.listKeys(keyRing, pageToken ? { pageToken } : {}));
  return { ...keyRing, keyId: one(keys, wanted, 'key', (k) => [k.id, k.slug ?? '']).id };
}

/** A positive integer flag or argument, or a one-line error naming it. */
export function positiveInteger(value: string, name: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new CliError(`${name} must be a positive integer, not "${value}"`);
  return Number(value);
}
