import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * API tokens look like `cfr_` + 40 base62 characters of randomness (≈238 bits) + a 6-character
 * base62 CRC32 of those 40: the prefix lets secret scanners find leaked tokens, the checksum lets
 * them (and the server) reject typos and fakes without a database lookup.
 */
export const tokenPrefix = 'cfr_';
const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const bodyLength = 40;
const checksumLength = 6;
const tokenPattern = /^cfr_[0-9A-Za-z]{46}$/;

function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 × 62: rejecting bytes above it keeps every character equally likely.
      if (byte < 248 && out.length < length) out += alphabet[byte % 62];
    }
  }
  return out;
}

function checksum(body: string): string {
  let n = crc32(body);
  let out = '';
  for (let i = 0; i < checksumLength; i++) {
    out = alphabet[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** A token that passed the format and checksum check (not yet looked up). */
export interface ParsedToken {
  /** The whole token, to be hashed for lookup. */
  readonly token: string;
}

/** Makes a new random token. */
export function formatToken(): string {
  const body = randomBase62(bodyLength);
  return `${tokenPrefix}${body}${checksum(body)}`;
}

/** Checks prefix, length, alphabet and checksum; undefined when the string cannot be a Coffer token. */
export function parseToken(candidate: string): ParsedToken | undefined {
  if (!tokenPattern.test(candidate)) return undefined;
  const body = candidate.slice(tokenPrefix.length, tokenPrefix.length + bodyLength);
  if (checksum(body) !== candidate.slice(tokenPrefix.length + bodyLength)) return undefined;
  return { token: candidate };
}
