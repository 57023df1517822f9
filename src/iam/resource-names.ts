/** The root resource: the parent of every project. */
export const rootResource = 'root';

const collections = new Set([
  'projects',
  'regions',
  'keyrings',
  'keys',
  'instances',
  'secrets',
  'service-accounts',
  'versions',
  'operations',
  'databases',
  'roles',
  'leases',
]);

/**
 * The real parent chain of a resource, root first and the resource last, built from its name's
 * `collection/id` pairs — never from string prefixes, so a grant on secret `prod` says nothing about
 * secret `prod%2Fdb` (secret paths are one URL-encoded segment). Undefined for a malformed name.
 */
export function ancestorsOf(resource: string): string[] | undefined {
  if (resource === rootResource) return [rootResource];
  const segments = resource.split('/');
  if (segments.length % 2 !== 0 || segments[0] !== 'projects') return undefined;
  const chain = [rootResource];
  for (let i = 0; i < segments.length; i += 2) {
    if (!collections.has(segments[i]!) || !segments[i + 1]) return undefined;
    chain.push(segments.slice(0, i + 2).join('/'));
  }
  return chain;
}

/** The project id of a resource name, if it belongs to one. */
export function projectOf(resource: string): string | undefined {
  const match = /^projects\/([^/]+)/.exec(resource);
  return match?.[1];
}

/** Whether policies may be attached to this resource (SPEC §7, plus the root and service accounts). */
export function acceptsPolicy(resource: string): boolean {
  const chain = ancestorsOf(resource);
  if (!chain) return false;
  if (resource === rootResource) return true;
  const kind = resource.split('/').at(-2);
  return (
    kind === 'projects' ||
    kind === 'keyrings' ||
    kind === 'keys' ||
    kind === 'instances' ||
    kind === 'secrets' ||
    kind === 'service-accounts' ||
    kind === 'databases' ||
    // A database role (`…/databases/{db}/roles/{role}`), never a custom IAM role (`projects/{p}/roles/{r}`).
    (kind === 'roles' && resource.split('/').at(-4) === 'databases')
  );
}
