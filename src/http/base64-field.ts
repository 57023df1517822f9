import { errors } from '../core/errors.ts';

const base64Alphabet = /^[A-Za-z0-9+/]*={0,2}$/;
// What each base64 character is worth (-1: not one); the last character before padding must leave
// the bits it does not use at zero, or two strings would decode to the same bytes.
const sextets = new Int8Array(128).fill(-1);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].entries())
  sextets[c.charCodeAt(0)] = i;

/**
 * Decodes a base64 field; `invalid_argument` when it is not canonical base64 (RFC 4648 §4: the
 * standard alphabet, padded to a multiple of 4, unused bits zero). Checked in place (one scan, no
 * re-encoding of the decoded bytes to compare with).
 */
export function fromBase64(value: string, field: string): Buffer {
  if (!base64Alphabet.test(value)) throw errors.invalid(`${field} is not valid base64.`);
  return fromSchemaBase64(value, field);
}

/**
 * `fromBase64` for a field whose schema already checked the alphabet (`Base64` of
 * core/api/kms-schemas.ts, the same pattern): the length and the unused bits are checked here.
 */
export function fromSchemaBase64(value: string, field: string): Buffer {
  if (value.length % 4 !== 0) throw errors.invalid(`${field} is not valid base64.`);
  const padding = value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0;
  if (padding > 0) {
    const last = sextets[value.charCodeAt(value.length - padding - 1)]!;
    // One padding character: 18 bits carry 16 (2 unused); two: 12 carry 8 (4 unused).
    if ((last & (padding === 1 ? 0b11 : 0b1111)) !== 0) throw errors.invalid(`${field} is not valid base64.`);
  }
  return Buffer.from(value, 'base64');
}
