import { CofferError } from './errors.ts';

/**
 * Parses a duration as Google's APIs write it (`"3600s"`, fractions allowed) or an integer of seconds.
 * Returns whole seconds; `field` names the input in the error.
 */
export function parseDurationSeconds(input: string | number, field: string): number {
  if (typeof input === 'number') {
    if (Number.isInteger(input) && input >= 0) return input;
  } else {
    const match = /^(\d{1,12})(?:\.(\d{1,9}))?s$/.exec(input);
    if (match) return Number(match[1]);
  }
  throw new CofferError('invalid_argument', `${field} must be a duration such as "3600s" or whole seconds.`);
}

/** Formats whole seconds as a duration string (`"3600s"`). */
export function formatDuration(seconds: number): string {
  return `${seconds}s`;
}
