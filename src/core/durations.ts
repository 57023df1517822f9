import { CofferError } from './errors.ts';

/** The longest duration accepted anywhere: 100 years (so every derived time stays representable). */
export const maxDurationSeconds = 100 * 365 * 86_400;

/** The latest instant accepted for a timestamp field (expireTime, nextRotationTime): 9999-12-31. */
export const maxTimestampMs = Date.UTC(9999, 11, 31, 23, 59, 59);

/**
 * Parses a duration as Google's APIs write it (`"3600s"`, fractions allowed) or an integer of seconds.
 * Returns whole seconds; `field` names the input in the error.
 */
export function parseDurationSeconds(input: string | number, field: string): number {
  if (typeof input === 'number') {
    if (Number.isInteger(input) && input >= 0 && input <= maxDurationSeconds) return input;
  } else {
    const match = /^(\d{1,12})(?:\.(\d{1,9}))?s$/.exec(input);
    if (match && Number(match[1]) <= maxDurationSeconds) return Number(match[1]);
  }
  throw new CofferError(
    'invalid_argument',
    `${field} must be a duration such as "3600s" or whole seconds, at most ${maxDurationSeconds}s (100 years).`,
  );
}

/** Formats whole seconds as a duration string (`"3600s"`). */
export function formatDuration(seconds: number): string {
  return `${seconds}s`;
}
