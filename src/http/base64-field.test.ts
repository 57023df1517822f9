import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CofferError } from '../core/errors.ts';
import { fromBase64 } from './base64-field.ts';

/** The rule before the in-place check: decode, re-encode, compare. */
function canonical(value: string): boolean {
  return value.length % 4 === 0 && Buffer.from(value, 'base64').toString('base64') === value;
}

const refused = (value: string) => {
  assert.throws(
    () => fromBase64(value, 'plaintext'),
    (err: unknown) =>
      err instanceof CofferError && err.code === 'invalid_argument' && /plaintext/.test(err.message),
    JSON.stringify(value),
  );
};

test('canonical base64 decodes to its bytes', () => {
  for (let n = 0; n < 70; n++) {
    const bytes = randomBytes(n);
    assert.deepEqual(fromBase64(bytes.toString('base64'), 'plaintext'), bytes);
  }
});

test('non-canonical or foreign base64 is refused: length, alphabet, padding, unused bits', () => {
  for (const value of [
    'abc', // not padded
    'ab=c', // padding inside
    'a===', // too much padding
    'YQ', // unpadded
    'YR==', // unused bits set (the canonical form of 'a' is YQ==)
    'YWF=', // unused bits set (YWE= is 'aa')
    '-_8A', // base64url alphabet
    'YW E=', // whitespace
    'YWE=\n',
    'é===',
  ])
    refused(value);
});

test('agrees with decode-and-re-encode on every short string over the alphabet and padding', () => {
  const alphabet = 'AQgwB/+=';
  const strings = [''];
  for (let length = 1; length <= 4; length++)
    for (const prefix of strings.filter((s) => s.length === length - 1))
      for (const c of alphabet) strings.push(prefix + c);
  for (const value of strings) {
    const expected = /^[A-Za-z0-9+/]*={0,2}$/.test(value) && canonical(value);
    let ok = true;
    try {
      fromBase64(value, 'plaintext');
    } catch {
      ok = false;
    }
    assert.equal(ok, expected, JSON.stringify(value));
  }
});
