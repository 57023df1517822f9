import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { RateLimiter } from './rate-limiter.ts';

test('fresh keys past the key bound do not reset a blocked key, and the bound holds', () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 7));
  const login = new RateLimiter(10 / 60, 10, clock, 1_000);
  for (let i = 0; i < 10; i++) login.take('email:victim@example.com');
  assert.ok(login.blocked('email:victim@example.com') > 0);
  for (let i = 0; i < 5_000; i++) {
    login.take(`email:x${i}@example.com`);
    assert.ok(login.size <= 1_000);
  }
  assert.ok(login.blocked('email:victim@example.com') > 0, 'the blocked key was forgotten');
});

test('past the key bound, the fullest bucket goes first, the least recently used among equals', () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 7));
  const limiter = new RateLimiter(1, 2, clock, 10);
  limiter.take('spent');
  limiter.take('spent');
  for (let i = 0; i < 9; i++) limiter.take(`once-${i}`);
  limiter.take('newcomer');
  assert.equal(limiter.size, 10);
  assert.ok(limiter.blocked('spent') > 0);
  // once-0 was forgotten (a fresh bucket keeps a token after one take); once-8 was kept.
  limiter.take('once-0');
  assert.equal(limiter.blocked('once-0'), 0);
  limiter.take('once-8');
  assert.ok(limiter.blocked('once-8') > 0);
});
