import type { KmsAlgorithm, KmsPurpose } from '../crypto/kms-algorithms.ts';

/** Key states (SPEC §5, seed 000). */
export type KeyState = 'active' | 'disabled' | 'pending_deletion' | 'destroyed';

/**
 * Key version states. `destroy_scheduled` (Google's DESTROY_SCHEDULED): a forced destroy of a version
 * that secrets depend on waits for the deletion window (`destroyTimeMs`); unusable meanwhile, and
 * `restore` makes it `disabled` again.
 */
export type VersionState = 'enabled' | 'disabled' | 'destroy_scheduled' | 'destroyed';

/** Where a key ring or key lives. */
export interface KmsLocation {
  readonly projectId: string;
  readonly regionId: string;
}

/** A key ring. */
export interface KeyRing extends KmsLocation {
  readonly id: string;
  readonly displayName: string;
  readonly description: string;
  readonly createTimeMs: number;
}

/** A key (metadata only). */
export interface CryptoKey extends KmsLocation {
  /** Internal identity, written into ciphertext headers. */
  readonly uid: string;
  readonly keyRingId: string;
  readonly id: string;
  readonly slug: string | null;
  readonly displayName: string;
  readonly algorithm: KmsAlgorithm;
  readonly purpose: KmsPurpose;
  readonly state: KeyState;
  readonly primaryVersion: number;
  readonly rotationPeriodSeconds: number | null;
  readonly nextRotationTimeMs: number | null;
  readonly deletionTimeMs: number | null;
  readonly createTimeMs: number;
  readonly updateTimeMs: number;
}

/** A key version (metadata; material stays in storage and in the material cache). */
export interface KeyVersion {
  readonly keyUid: string;
  readonly version: number;
  readonly state: VersionState;
  readonly hasMaterial: boolean;
  readonly publicKeyPem: string | null;
  readonly createTimeMs: number;
  readonly destroyTimeMs: number | null;
}

/** The full resource name of a key: `projects/{p}/regions/{r}/keyrings/{ring}/keys/{key}`. */
export function keyResourceName(key: Pick<CryptoKey, 'projectId' | 'regionId' | 'keyRingId' | 'id'>): string {
  return `projects/${key.projectId}/regions/${key.regionId}/keyrings/${key.keyRingId}/keys/${key.id}`;
}

/** Input of key creation. */
export interface CreateKeyInput {
  readonly id?: string;
  readonly algorithm: KmsAlgorithm;
  readonly purpose?: KmsPurpose;
  readonly slug?: string;
  readonly displayName?: string;
  readonly rotationPeriodSeconds?: number;
}

/** Counts what depends on a key (secrets and instances bound to it); supplied by Secrets Manager. */
export type DependentsCounter = (key: CryptoKey) => Promise<number>;

/** An audit-worthy change made by a background job. */
export interface KmsJobEvent {
  readonly action: 'kms.keys.rotate' | 'kms.keys.destroy' | 'kms.key_versions.destroy';
  readonly key: CryptoKey;
  readonly version?: number;
}
