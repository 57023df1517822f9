/** The outcome of an audited decision or operation. */
export type AuditResult = 'ok' | 'denied' | 'error';

/**
 * One audit event (SPEC §8): one per authorization decision and per KMS crypto operation. Never
 * carries a secret value, plaintext, token or key material: `details` holds only identifiers such as
 * a key version.
 */
export interface AuditEvent {
  readonly id: string;
  readonly timeMs: number;
  readonly requestId: string;
  /** The permission or operation, e.g. `kms.decrypt`, `secrets.get_value`. */
  readonly action: string;
  /** Who acted (`user:…`, `serviceAccount:…`, `service:…`, or `anonymous`). */
  readonly principal: string;
  /** The caller an acting identity worked for (an instance's service account reading for a caller). */
  readonly onBehalfOf?: string;
  /** Full resource name, secret paths URL-encoded. */
  readonly resource: string;
  /** The project the resource belongs to, for per-project queries. */
  readonly projectId?: string;
  readonly result: AuditResult;
  /** HTTP status of the answer. */
  readonly status: number;
  readonly sourceIp?: string;
  readonly userAgent?: string;
  /** Identifiers only (key version, algorithm…). */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}
