import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffDelayMs, defaultBackoff } from './lease-revocation.ts';

describe('revocation backoff', () => {
  test('doubles from the base delay per failed attempt, within ±25 % jitter', () => {
    for (const [attempts, nominal] of [
      [1, 2000],
      [2, 4000],
      [3, 8000],
      [6, 64_000],
    ] as const) {
      assert.equal(
        backoffDelayMs(attempts, defaultBackoff, () => 0.5),
        nominal,
      );
      assert.equal(
        backoffDelayMs(attempts, defaultBackoff, () => 0),
        nominal * 0.75,
      );
      assert.equal(
        backoffDelayMs(attempts, defaultBackoff, () => 0.999999),
        Math.round(nominal * 1.249999),
      );
    }
  });

  test('never waits longer than the max backoff, however many attempts failed', () => {
    for (const attempts of [9, 10, 50, 10_000])
      for (const r of [0, 0.5, 0.99])
        assert.ok(backoffDelayMs(attempts, defaultBackoff, () => r) <= defaultBackoff.maxMs);
    assert.equal(
      backoffDelayMs(10_000, defaultBackoff, () => 0.99),
      defaultBackoff.maxMs,
    );
  });
});
