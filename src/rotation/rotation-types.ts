import type { AuditEvent } from '../audit/audit-types.ts';
import type { Principal } from '../iam/principal.ts';
import type { RotationStep, Rotator } from './rotator.ts';

/** A secret's rotation state: `failed` after `maxAutomaticAttempts` failures in a row. */
export type RotationState = 'idle' | 'in_progress' | 'failed';

/** A secret's `sm_rotations` row, as the engine reads it. */
export interface RotationRecord {
  readonly secretUid: string;
  readonly state: RotationState;
  /** While in progress (or failed): the step to run next. */
  readonly step: RotationStep | null;
  /** Stable across resumes (a webhook's idempotency token). */
  readonly rotationId: string | null;
  /** The pending version, once `create` is durable. */
  readonly pendingVersion: number | null;
  /** The version staged `current` when the rotation began. */
  readonly baseVersion: number | null;
  readonly attempts: number;
  readonly nextAttemptTimeMs: number | null;
  readonly lastSuccessTimeMs: number | null;
  readonly lastFailure: { timeMs: number; step: RotationStep; message: string } | null;
  readonly claimOwner: string | null;
  readonly claimUntilMs: number | null;
}

/** Who runs a rotation: a caller (on demand, `POST …/rotate`) or the schedule (the service). */
export interface RotationTrigger {
  readonly principal: Principal;
  readonly requestId: string;
  /**
   * `manual` runs whatever the backoff says (not within `manualRetryMinMs` of a failed attempt) and
   * keeps counting failures; `scheduled` respects the backoff.
   */
  readonly kind: 'manual' | 'scheduled';
  /**
   * The request's extra audit events (KMS use, reference reads), recorded with its answer; absent
   * for the schedule, whose events the engine records itself.
   */
  readonly events?: AuditEvent[];
}

/** What the engine reports for metrics (M4 rotation success, M10 rotation lead time). */
export interface RotationObserver {
  /** A step ended, recorded as `result`. */
  step(step: RotationStep, result: 'ok' | 'failed'): void;
  /** A run ended: the rotation finished (`ok`, after `seconds` of this run) or a step failed. */
  run(trigger: RotationTrigger['kind'], result: 'ok' | 'failed', seconds: number): void;
}

/** Makes a rotator from a secret's validated rotator configuration. */
export type RotatorFactory = (config: unknown) => Rotator;

/** Failures in a row after which the schedule stops retrying (state `failed`). */
export const maxAutomaticAttempts = 10;
/** The first retry waits this long; each further failure doubles it. */
export const firstBackoffMs = 30_000;
/** The longest wait between automatic retries. */
export const maxBackoffMs = 3_600_000;
/**
 * A manual rotate within this long of the previous failed attempt is refused (`rate_limited`):
 * manual rotates skip the backoff (they are the recovery path) but must not hammer a failing target.
 */
export const manualRetryMinMs = 10_000;
/** How long a node's claim on a rotation lasts without being renewed (each step renews it). */
export const claimLeaseMs = 120_000;

/** The wait before the next automatic attempt after `attempts` failures in a row (≥ 1). */
export function backoffMs(attempts: number): number {
  return Math.min(maxBackoffMs, firstBackoffMs * 2 ** Math.min(attempts - 1, 20));
}
