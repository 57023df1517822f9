import type { RotatorConfig, RotationStatusView } from '../core/api/rotation-schemas.ts';
import { toRfc3339 } from '../core/clock.ts';
import { CofferError } from '../core/errors.ts';
import type { Secret } from '../secrets/secret-types.ts';
import type { RotationRecord } from './rotation-types.ts';

/** The other secrets a rotator configuration references (admin credentials, signing keys). */
export function referencesOf(config: RotatorConfig): string[] {
  if (config.type === 'postgresql') return [config.connectionSecret];
  if (config.type === 'webhook') return [config.signingSecret];
  return [];
}

/**
 * A rotator configuration as secret views show it: references as given, a webhook URL as its
 * origin only (`https://host:port/…?redacted`): its path and query may hold the hook's token, and
 * metadata readers must not see it. A view sent back unchanged keeps the stored URL.
 */
export function rotatorView(config: RotatorConfig): RotatorConfig {
  if (config.type !== 'webhook') return config;
  const url = new URL(config.url);
  if (url.pathname === '/' && url.search === '') return config;
  return { ...config, url: `${url.origin}/…?redacted` };
}

/** A secret's rotator configuration, parsed (it was validated when set). */
export function rotatorOf(secret: Secret): RotatorConfig | undefined {
  return secret.rotator ? (JSON.parse(secret.rotator) as RotatorConfig) : undefined;
}

/**
 * The message a failure records and shows in `rotationStatus.lastFailure`: a `CofferError`'s own
 * message (rotators and targets write them without values, see rotator.ts), nothing of any other
 * error (which may quote anything), capped.
 */
export function failureMessage(err: unknown): string {
  if (err instanceof CofferError)
    return err.message.length > 500 ? `${err.message.slice(0, 497)}...` : err.message;
  return 'The rotation failed with an internal error (see the server log).';
}

/** `rotationStatus` of a secret: null when it has neither a rotator nor a rotation history. */
export function statusView(secret: Secret, record: RotationRecord | undefined): RotationStatusView {
  if (!record) {
    if (!secret.rotator) return null;
    return { state: 'idle', attempts: 0, lastSuccessTime: null, lastFailure: null };
  }
  const failure = record.lastFailure;
  return {
    state: record.state,
    ...(record.state !== 'idle' && record.step ? { step: record.step } : {}),
    ...(record.state !== 'idle' && record.pendingVersion !== null
      ? { pendingVersion: record.pendingVersion }
      : {}),
    attempts: record.attempts,
    lastSuccessTime: record.lastSuccessTimeMs === null ? null : toRfc3339(record.lastSuccessTimeMs),
    lastFailure: failure
      ? { time: toRfc3339(failure.timeMs), step: failure.step, message: failure.message }
      : null,
    ...(record.state === 'in_progress' && record.nextAttemptTimeMs !== null
      ? { nextAttemptTime: toRfc3339(record.nextAttemptTimeMs) }
      : {}),
  };
}
