import { randomBytes } from 'node:crypto';
import type { RandomRotatorConfig } from '../core/api/rotation-schemas.ts';
import { errors } from '../core/errors.ts';
import type { Rotator } from './rotator.ts';

const lower = 'abcdefghijklmnopqrstuvwxyz';
const upper = lower.toUpperCase();
const digits = '0123456789';

/** The characters of each charset of the random rotator. */
export const charsets: Readonly<Record<NonNullable<RandomRotatorConfig['charset']>, string>> = {
  alphanumeric: upper + lower + digits,
  // Every printable ASCII character but the space (0x21–0x7e).
  'ascii-printable': Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i)).join(''),
  hex: '0123456789abcdef',
  base64url: upper + lower + digits + '-_',
};

/** The alphabet a configuration draws from (`charset` minus `exclude`); invalid when nothing is left. */
export function alphabetOf(config: RandomRotatorConfig): string {
  const excluded = new Set(config.exclude ?? '');
  const alphabet = [...charsets[config.charset ?? 'alphanumeric']].filter((c) => !excluded.has(c)).join('');
  if (alphabet.length < 2)
    throw errors.invalid('rotation.rotator.exclude leaves fewer than 2 characters of the charset.');
  return alphabet;
}

/**
 * `length` characters drawn uniformly from `alphabet` with the system CSPRNG. Rejection sampling: a
 * random byte at or above the largest multiple of the alphabet's size is drawn again, so no
 * character is likelier than another (a plain modulo would favour the first `256 mod n`).
 */
export function randomString(alphabet: string, length: number): string {
  const n = alphabet.length;
  if (n < 2 || n > 256) throw new Error('randomString: the alphabet must have 2 to 256 characters');
  const limit = 256 - (256 % n);
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(Math.max(16, (length - out.length) * 2))) {
      if (byte >= limit) continue;
      out += alphabet[byte % n];
      if (out.length === length) break;
    }
  }
  return out;
}

/**
 * The random rotator: `create` makes a new random value; there is no target to set, test or tell,
 * so the other steps do nothing (consumers pick the value up through `current`).
 */
export function createRandomRotator(config: RandomRotatorConfig): Rotator {
  const alphabet = alphabetOf(config);
  const length = config.length ?? 32;
  return {
    createValue: () => Promise.resolve(Buffer.from(randomString(alphabet, length), 'utf8')),
    setValue: () => Promise.resolve(),
    testValue: () => Promise.resolve(),
    finish: () => Promise.resolve(),
  };
}
