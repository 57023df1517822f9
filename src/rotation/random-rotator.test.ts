import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CofferError } from '../core/errors.ts';
import { alphabetOf, charsets, createRandomRotator, randomString } from './random-rotator.ts';
import type { RotationContext } from './rotator.ts';

const ctx = {} as RotationContext;
const create = async (config: Parameters<typeof createRandomRotator>[0]) =>
  (await createRandomRotator(config).createValue(ctx)).toString('utf8');

test('the random rotator makes 32 alphanumeric characters by default, and honours length and charset', async () => {
  assert.match(await create({ type: 'random' }), /^[A-Za-z0-9]{32}$/);
  assert.match(await create({ type: 'random', length: 4096, charset: 'hex' }), /^[0-9a-f]{4096}$/);
  assert.match(await create({ type: 'random', length: 64, charset: 'base64url' }), /^[A-Za-z0-9_-]{64}$/);
  const printable = await create({ type: 'random', length: 500, charset: 'ascii-printable' });
  assert.match(printable, /^[\x21-\x7e]{500}$/);
  assert.equal(charsets['ascii-printable'].length, 94);
  assert.notEqual(await create({ type: 'random' }), await create({ type: 'random' }));
});

test('excluded characters never appear; excluding all but one character is refused', async () => {
  const value = await create({
    type: 'random',
    length: 2000,
    charset: 'ascii-printable',
    exclude: '"\'\\`$ ',
  });
  assert.equal(/["'\\`$]/.test(value), false);
  assert.equal(value.length, 2000);
  assert.equal(alphabetOf({ type: 'random', charset: 'hex', exclude: 'abcdef' }), '0123456789');
  assert.throws(
    () => createRandomRotator({ type: 'random', charset: 'hex', exclude: '0123456789abcde' }),
    (err) => err instanceof CofferError && err.code === 'invalid_argument',
  );
});

test('characters are drawn uniformly: no modulo bias for an alphabet that does not divide 256', () => {
  // 200 characters: a plain `byte % 200` would make the first 56 twice as likely as the rest.
  const alphabet = Array.from({ length: 200 }, (_, i) => String.fromCharCode(0x100 + i)).join('');
  const counts = new Map<string, number>();
  for (const c of randomString(alphabet, 200_000)) counts.set(c, (counts.get(c) ?? 0) + 1);
  const first = [...alphabet.slice(0, 56)].reduce((n, c) => n + (counts.get(c) ?? 0), 0) / 56;
  const rest = [...alphabet.slice(56)].reduce((n, c) => n + (counts.get(c) ?? 0), 0) / 144;
  assert.equal(counts.size, 200);
  assert.ok(Math.abs(first / rest - 1) < 0.1, `first ${first} vs rest ${rest}`);
});

test('set, test and finish do nothing (there is no target)', async () => {
  const rotator = createRandomRotator({ type: 'random' });
  const pending = Buffer.from('x');
  await rotator.setValue(ctx, pending);
  await rotator.testValue(ctx, pending);
  await rotator.finish(ctx, pending);
});
