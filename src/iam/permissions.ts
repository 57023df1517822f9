/**
 * The one catalogue of permissions, named like audit actions (SPEC §7): lowercase, dot-separated,
 * snake_case words. Routes declare one of these; roles are lists of them.
 */
export const permissionCatalogue = {
  'projects.create': 'Create projects (held at the root resource).',
  'projects.get': 'Read a project and its feature gates.',
  'projects.list': 'List projects.',
  'projects.update': 'Change a project’s display name or feature gates.',
  'regions.list': 'List the regions this server offers.',
  'sys.seal': 'Seal the node (drop the root key from memory).',
  'sys.openapi.get': 'Read the OpenAPI description of the API.',
} as const;

/** A permission name from the catalogue. */
export type Permission = keyof typeof permissionCatalogue;

/** Every permission name. */
export const allPermissions = Object.keys(permissionCatalogue) as Permission[];
