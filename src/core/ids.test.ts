import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isUuid, newTimeOrderedUuid } from './ids.ts';

test('time-ordered UUIDs: version 7, RFC 9562 variant, the time in the first 48 bits', () => {
  const ms = Date.UTC(2026, 11, 2, 12, 0, 0, 123);
  const id = newTimeOrderedUuid(ms);
  assert.ok(isUuid(id), id);
  assert.equal(id[14], '7');
  assert.ok('89ab'.includes(id[19]!), id);
  assert.equal(parseInt(id.replaceAll('-', '').slice(0, 12), 16), ms);
});

test('time-ordered UUIDs stay unique across many refills of the entropy pool, and sort by time', () => {
  const seen = new Set<string>();
  const start = Date.UTC(2026, 0, 1);
  let previous = '';
  for (let i = 0; i < 20_000; i++) {
    const id = newTimeOrderedUuid(start + i);
    assert.ok(!seen.has(id), 'no repeat');
    seen.add(id);
    assert.ok(id > previous, 'a later millisecond sorts after');
    previous = id;
  }
  // The random part is not constant: some of the 74 random bits differ between two ids of one ms.
  assert.notEqual(newTimeOrderedUuid(start).slice(15), newTimeOrderedUuid(start).slice(15));
});

test('time-ordered UUIDs carry every 48-bit millisecond exactly, and the random part is fresh per id', () => {
  for (const ms of [0, 1, 0xffffff, 0x1000000, 0x1000001, Date.UTC(2026, 11, 7), 2 ** 48 - 1]) {
    const id = newTimeOrderedUuid(ms);
    assert.ok(isUuid(id), id);
    assert.equal(parseInt(id.replaceAll('-', '').slice(0, 12), 16), ms, id);
    assert.equal(id[14], '7');
    assert.ok('89ab'.includes(id[19]!), id);
  }
  // Ids of one millisecond differ only in their random part, and each uses its own pooled bytes:
  // over 1,000 ids, no two have the same last 12 hex digits.
  const ms = Date.UTC(2026, 11, 7, 18);
  const tails = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const tail = newTimeOrderedUuid(ms).slice(24);
    assert.ok(!tails.has(tail), 'no repeated random tail');
    tails.add(tail);
  }
  // Every nibble value shows up in the random tails (the hex digits are all reachable).
  const digits = new Set([...tails].join(''));
  assert.equal(digits.size, 16);
});
