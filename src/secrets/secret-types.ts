import type { AuditEvent } from '../audit/audit-types.ts';
import type { Principal } from '../iam/principal.ts';

/** The seed-002 `kmsKey` object of an instance. */
export interface InstanceKmsKey {
  readonly regionId: string;
  readonly projectId: string;
  readonly serviceAccountEmail: string;
  readonly keyRingId: string;
  readonly keyId: string;
  readonly keyVersion: number;
}

/** A Secrets Manager instance. */
export interface Instance {
  readonly projectId: string;
  readonly regionId: string;
  readonly id: string;
  readonly name: string;
  readonly kmsKey: InstanceKmsKey | null;
  /** Internal uid of the instance key. */
  readonly kmsKeyUid: string | null;
  readonly etag: string;
  readonly createTimeMs: number;
  readonly updateTimeMs: number;
}

/** A secret (metadata). */
export interface Secret {
  readonly uid: string;
  readonly projectId: string;
  readonly regionId: string;
  readonly instanceId: string;
  readonly path: string;
  /** Explicit, immutable key binding (uid), or null to follow the instance key. */
  readonly kmsKeyUid: string | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly expireTimeMs: number | null;
  readonly rotationPeriodSeconds: number | null;
  readonly nextRotationTimeMs: number | null;
  /** Set while pending deletion: when the secret is purged. */
  readonly deleteTimeMs: number | null;
  readonly nextVersion: number;
  readonly etag: string;
  readonly createTimeMs: number;
  readonly updateTimeMs: number;
  /** The rotator configuration (validated JSON, see rotation/), or null/absent: none. */
  readonly rotator?: string | null;
  /** A free-text description (AWS's `Description`), or null/absent: none. */
  readonly description?: string | null;
  /** Tags (AWS's `Tags`: ordered key/value pairs, keys unique), or absent: none. */
  readonly tags?: readonly SecretTag[];
  /** Six random characters that end the secret's AWS ARN (absent on secrets made before migration 0017). */
  readonly arnSuffix?: string | null;
  /** The resource policy (a JSON IAM policy document, stored and validated), or null/absent: none. */
  readonly resourcePolicy?: string | null;
  /** When deletion was requested (AWS's `DeletedDate`) while pending deletion, else null/absent. */
  readonly deletedTimeMs?: number | null;
}

/** One tag of a secret. */
export interface SecretTag {
  readonly key: string;
  readonly value: string;
}

/** Secret version states. */
export type SecretVersionState = 'enabled' | 'disabled' | 'destroyed';

/** A secret version (metadata). */
export interface SecretVersion {
  readonly secretUid: string;
  readonly version: number;
  readonly state: SecretVersionState;
  readonly binary: boolean;
  readonly wrapKeyUid: string | null;
  readonly followsInstance: boolean;
  readonly createdBy: string;
  readonly createTimeMs: number;
  readonly destroyTimeMs: number | null;
}

/** Where an instance lives. */
export interface SecretsLocation {
  readonly projectId: string;
  readonly regionId: string;
}

/** The full resource name of an instance. */
export function instanceName(i: { projectId: string; regionId: string; instanceId: string }): string {
  return `projects/${i.projectId}/regions/${i.regionId}/instances/${i.instanceId}`;
}

/** The full resource name of a secret, its path URL-encoded as one segment (SPEC §8). */
export function secretName(s: {
  projectId: string;
  regionId: string;
  instanceId: string;
  path: string;
}): string {
  return `${instanceName(s)}/secrets/${encodeURIComponent(s.path)}`;
}

/** The identity KMS operations run as when an instance names no service account. */
export const serviceIdentity = 'service:secretsmanager';

/** A long-running operation as the API shows it. */
export interface Operation {
  readonly id: string;
  readonly name: string;
  readonly done: boolean;
  readonly state: string;
  readonly error?: string;
  readonly progress: { readonly total: number; readonly done: number };
}

/** Who asks, for authorization of per-item checks and for audit. */
export interface Caller {
  readonly principal: Principal;
  readonly requestId: string;
  /** Collects the KMS events of the request (acting identity, on behalf of the caller). */
  readonly events: AuditEvent[];
}
