import { errors } from '../core/errors.ts';

/** Decodes a base64 field; `invalid_argument` when it is not canonical base64. */
export function fromBase64(value: string, field: string): Buffer {
  const bytes = Buffer.from(value, 'base64');
  if (value.length % 4 !== 0 || bytes.toString('base64') !== value)
    throw errors.invalid(`${field} is not valid base64.`);
  return bytes;
}
