import { testPermissions } from './client.ts';
import { useLoad } from './use-load.ts';

/** What the permission check of a page says: the held subset, or empty while unknown. */
export interface Held {
  /** Whether the caller holds `permission` on the resource (false until known, or when the check failed). */
  has(permission: string): boolean;
  readonly known: boolean;
}

/**
 * One "test my permissions" call for the page's resource (`POST {resourcePath}/iam:test-permissions`):
 * the console hides actions the caller may not take. Hiding is a courtesy; the API refuses anyway.
 */
export function usePermissions(resourcePath: string | null, permissions: readonly string[]): Held {
  const loaded = useLoad(`perm ${resourcePath ?? ''} ${permissions.join(',')}`, () =>
    resourcePath ? testPermissions(resourcePath, permissions) : Promise.resolve(new Set<string>()),
  );
  const held = loaded.data;
  return { has: (permission) => held?.has(permission) ?? false, known: held !== undefined };
}
