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
