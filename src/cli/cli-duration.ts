import { CliError } from './cli-error.ts';

const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * A TTL-like flag (`90`, `90s`, `15m`, `1h`, `7d`) as the API's duration (`"3600s"`): bare digits
 * are seconds; a one-line error names the flag otherwise.
 */
export function durationSeconds(value: string, flag: string): string {
  const match = /^(\d{1,9})(s|m|h|d)?$/.exec(value.trim());
  if (!match) throw new CliError(`${flag} takes a duration such as 3600, 90s, 15m, 1h or 7d, not "${value}"`);
  return `${Number(match[1]) * units[match[2] ?? 's']!}s`;
}
