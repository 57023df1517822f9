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
  'kms.key_rings.create': 'Create key rings in a project region.',
  'kms.key_rings.get': 'Read a key ring.',
  'kms.key_rings.list': 'List key rings.',
  'kms.keys.create': 'Create keys in a key ring.',
  'kms.keys.get': 'Read a key’s metadata (every state).',
  'kms.keys.list': 'List keys.',
  'kms.keys.rotate': 'Add a primary version to a key.',
  'kms.keys.enable': 'Enable a key.',
  'kms.keys.disable': 'Disable a key.',
  'kms.keys.schedule_deletion': 'Schedule a key’s destruction.',
  'kms.keys.cancel_deletion': 'Cancel a scheduled destruction (the key becomes disabled).',
  'kms.key_versions.list': 'List a key’s versions.',
  'kms.key_versions.get': 'Read a key version.',
  'kms.key_versions.enable': 'Enable a key version.',
  'kms.key_versions.disable': 'Disable a key version.',
  'kms.key_versions.destroy': 'Destroy (crypto-shred) a key version.',
  'kms.key_versions.get_public_key': 'Read the public key of an asymmetric key version.',
  'kms.encrypt': 'Encrypt with a key.',
  'kms.decrypt': 'Decrypt with a key.',
  'kms.generate_data_key': 'Generate a data key encrypted under a key.',
  'kms.rewrap': 'Re-encrypt a ciphertext under a key’s primary version.',
  'kms.sign': 'Sign with an asymmetric key.',
  'kms.verify': 'Verify a signature with an asymmetric key.',
  'kms.mac': 'Compute an HMAC with a key.',
  'kms.verify_mac': 'Verify an HMAC with a key.',
} as const;

/** A permission name from the catalogue. */
export type Permission = keyof typeof permissionCatalogue;

/** Every permission name. */
export const allPermissions = Object.keys(permissionCatalogue) as Permission[];
