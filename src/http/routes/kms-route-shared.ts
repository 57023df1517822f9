import { type Static, Type } from '@sinclair/typebox';
import type { Permission } from '../../iam/permissions.ts';

/** Path parameters of one key, shared by the KMS key, version and crypto routes. */
export const KeyParams = Type.Object({
  projectId: Type.String({ maxLength: 64 }),
  regionId: Type.String({ maxLength: 64 }),
  keyRingId: Type.String({ maxLength: 64 }),
  keyId: Type.String({ maxLength: 64 }),
});
/** The path parameters of one key. */
export type KeyParams = Static<typeof KeyParams>;

/** The resource name of the key the path names. */
export const keyName = (p: Record<string, string>) =>
  `projects/${p.projectId}/regions/${p.regionId}/keyrings/${p.keyRingId}/keys/${p.keyId}`;

/** The guard of a KMS route: a permission on a resource, behind the `kms` feature. */
export function kmsGuard(permission: Permission, resource: (p: Record<string, string>) => string) {
  return { guard: { permission, resource, feature: 'kms' as const } };
}

/** The key a path names, as the KMS crypto service takes it. */
export function keyRef(p: KeyParams) {
  return { projectId: p.projectId, regionId: p.regionId, keyRingId: p.keyRingId, keyId: p.keyId };
}
