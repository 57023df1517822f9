import { allPermissions, type Permission } from './permissions.ts';

/** The predefined roles and the permissions each grants. The IAM issue completes this table. */
export const predefinedRoles: Record<string, readonly Permission[]> = {
  'roles/owner': allPermissions,
  'roles/viewer': ['projects.get', 'projects.list', 'regions.list', 'sys.openapi.get'],
};

/** The permissions of `role`, empty for an unknown role. */
export function permissionsOfRole(role: string): readonly Permission[] {
  return predefinedRoles[role] ?? [];
}
