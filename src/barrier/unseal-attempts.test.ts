import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ErrorCode, isCofferError } from '../core/errors.ts';
import { UnsealAttempts } from './unseal-attempts.ts';

const t0 = Date.UTC(2026, 11, 7, 12, 0, 0);
const minute = 60_000;
/** A share-shaped buffer; `n` makes it distinct. */
const share = (n: number) => Buffer.alloc(33, n);

function refused(code: ErrorCode, message: RegExp) {
  return (err: unknown) => isCofferError(err, code) && message.test((err as Error).message);
}

describe('unseal attempts', () => {
  test('a new attempt from an address that has two replaces its oldest, whose nonce then says so', () => {
    const attempts = new UnsealAttempts();
    const first = attempts.add(share(1), undefined, '203.0.113.7', t0).nonce;
    const second = attempts.add(share(1), undefined, '203.0.113.7', t0 + 1).nonce;
    const other = attempts.add(share(1), undefined, '198.51.100.20', t0 + 2).nonce;
    const third = attempts.add(share(1), undefined, '203.0.113.7', t0 + 3).nonce;
    assert.deepEqual(
      [first, second, other, third].map((nonce) => attempts.has(nonce)),
      [false, true, true, true],
    );
    assert.throws(
      () => attempts.add(share(2), first, '203.0.113.7', t0 + 4),
      refused('invalid_argument', /replaced by a newer attempt from the same address/),
    );
  });

  test('a share given twice is refused and does not count', () => {
    const attempts = new UnsealAttempts();
    const { nonce } = attempts.add(share(1), undefined, '203.0.113.7', t0);
    assert.throws(
      () => attempts.add(share(1), nonce, '203.0.113.7', t0 + minute),
      refused('invalid_argument', /already given/),
    );
    assert.equal(attempts.progress(nonce), 1);
  });

  test('an attempt ends 15 minutes after its start, however many shares it got meanwhile', () => {
    const attempts = new UnsealAttempts();
    const { nonce } = attempts.add(share(1), undefined, '203.0.113.7', t0);
    assert.equal(attempts.add(share(2), nonce, '203.0.113.7', t0 + 14 * minute).progress, 2);
    assert.throws(
      () => attempts.add(share(3), nonce, '203.0.113.7', t0 + 15 * minute),
      refused('invalid_argument', /expired/),
    );
    assert.equal(attempts.has(nonce), false);
  });

  test('with every slot taken, a new attempt replaces the oldest holding one share, never one with more', () => {
    const attempts = new UnsealAttempts();
    const nonces = Array.from(
      { length: 32 },
      (_, i) => attempts.add(share(1), undefined, `192.0.2.${i}`, t0 + i).nonce,
    );
    attempts.add(share(2), nonces[0], '192.0.2.0', t0 + 40); // the oldest has two shares: kept
    const holder = attempts.add(share(5), undefined, '198.51.100.20', t0 + 41).nonce;
    assert.ok(attempts.has(holder));
    assert.ok(attempts.has(nonces[0]), 'an attempt with two shares is kept');
    assert.equal(attempts.has(nonces[1]), false, 'the oldest with one share made room');
    assert.throws(
      () => attempts.add(share(2), nonces[1], '192.0.2.1', t0 + 42),
      refused('invalid_argument', /dropped, holding one share/),
    );
  });

  test('with every slot taken by attempts of several shares, a new one is refused with conflict', () => {
    const attempts = new UnsealAttempts();
    for (let i = 0; i < 32; i++) {
      const { nonce } = attempts.add(share(1), undefined, `192.0.2.${i}`, t0);
      attempts.add(share(2), nonce, `192.0.2.${i}`, t0);
    }
    assert.throws(
      () => attempts.add(share(1), undefined, '198.51.100.20', t0 + minute),
      refused('conflict', /32 unseal attempts are in progress/),
    );
    // They end at their fixed lifetime, and then the slots are free again.
    attempts.add(share(1), undefined, '198.51.100.20', t0 + 15 * minute);
  });
  test('a verified share from another address is never evicted: with every slot so taken, a start is refused', () => {
    const attempts = new UnsealAttempts();
    const nonces = Array.from(
      { length: 32 },
      (_, i) => attempts.add(share(1), undefined, `192.0.2.${i}`, t0 + i, true).nonce,
    );
    assert.throws(
      () => attempts.add(share(2), undefined, '198.51.100.20', t0 + 40, true),
      refused('conflict', /32 unseal attempts are in progress/),
    );
    assert.ok(nonces.every((nonce) => attempts.has(nonce)));
    const again = attempts.add(share(2), undefined, '192.0.2.0', t0 + 41, true).nonce;
    assert.ok(attempts.has(again), 'an address may still replace its own');
  });
});
