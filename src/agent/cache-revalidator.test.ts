import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../core/logger.ts';
import { CofferApiError, type CofferClient, CofferConnectionError } from '../sdk/index.ts';
import { AgentCache, type CacheEntry } from './agent-cache.ts';
import { AgentMetrics } from './agent-metrics.ts';
import { CacheRevalidator } from './cache-revalidator.ts';
import type { SecretReference } from './secret-reference.ts';

const logger = createLogger('silent');
const ref = (path: string): SecretReference => ({
  regionId: 'local',
  instanceId: 'main',
  path,
  version: undefined,
  stage: undefined,
});
const apiError = (status: number, code: string) => new CofferApiError(status, code, 'refused', 'r');

/** A client whose answers per path the test sets; counts fetches and the largest concurrency. */
function fakeClient() {
  const answers = new Map<string, () => unknown>();
  const stats = { fetches: 0, inFlight: 0, maxInFlight: 0 };
  const client = {
    secrets: {
      getSecretValue: async ({ secret }: { secret: string }) => {
        stats.fetches++;
        stats.inFlight++;
        stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
        try {
          await new Promise((resolve) => setTimeout(resolve, 2));
          const answer = answers.get(secret);
          return answer
            ? answer()
            : { value: `v-${secret}`, version: 1, stages: [], createTime: '2026-01-01T00:00:00Z' };
        } finally {
          stats.inFlight--;
        }
      },
    },
  } as unknown as CofferClient;
  return { client, answers, stats };
}

test('a revalidation pass drops entries now denied, gone or deleted, keeps the others, one fetch at a time', async () => {
  const { client, answers, stats } = fakeClient();
  const metrics = new AgentMetrics();
  const cache = new AgentCache({ client, projectId: 'p', metrics, logger });
  for (const path of ['denied', 'gone', 'deleted', 'kept', 'away']) await cache.get(ref(path));
  const dropped: string[] = [];
  cache.onChange((entry: CacheEntry | undefined, key) => {
    if (entry === undefined) dropped.push(key.split('\u0000')[2]!);
  });
  answers.set('denied', () => {
    throw apiError(403, 'permission_denied');
  });
  answers.set('gone', () => {
    throw apiError(404, 'not_found');
  });
  answers.set('deleted', () => {
    throw apiError(400, 'failed_precondition');
  });
  let now = Date.now() + 10_000;
  const revalidator = new CacheRevalidator({
    cache,
    intervalMs: 1_000,
    wanted: () => [],
    metrics,
    logger,
    nowMs: () => now,
  });
  stats.maxInFlight = 0;
  await revalidator.pass();
  assert.deepEqual(dropped.sort(), ['deleted', 'denied', 'gone']);
  assert.deepEqual(
    cache
      .entries()
      .map((e) => e.ref.path)
      .sort(),
    ['away', 'kept'],
  );
  assert.equal(stats.maxInFlight, 1);
  assert.match(
    await metrics.registry.metrics(),
    /coffer_agent_cache_dropped_total\{code="permission_denied"\} 1/,
  );

  // The server away ends the pass early and keeps what is held.
  answers.set('away', () => {
    throw new CofferConnectionError('network', 'http://x', 'r', 1, 'refused');
  });
  now += 10_000;
  await revalidator.pass();
  assert.deepEqual(
    cache
      .entries()
      .map((e) => e.ref.path)
      .sort(),
    ['away', 'kept'],
  );
});

test('a wanted reference dropped earlier is fetched again each pass and announced once readable', async () => {
  const { client, answers } = fakeClient();
  const metrics = new AgentMetrics();
  const cache = new AgentCache({ client, projectId: 'p', metrics, logger });
  await cache.get(ref('t'));
  answers.set('t', () => {
    throw apiError(403, 'permission_denied');
  });
  const seen: Array<string | undefined> = [];
  cache.onChange((entry) => seen.push(entry?.view.value));
  const revalidator = new CacheRevalidator({
    cache,
    intervalMs: 1_000,
    wanted: () => [ref('t')],
    metrics,
    logger,
    nowMs: () => Date.now() + 10_000,
  });
  await revalidator.pass();
  await revalidator.pass();
  assert.deepEqual(seen, [undefined]);
  answers.delete('t');
  await revalidator.pass();
  assert.deepEqual(seen, [undefined, 'v-t']);
});

test('entries fetched within half an interval are skipped; the periodic passes run on their own', async () => {
  const { client, stats } = fakeClient();
  const metrics = new AgentMetrics();
  const cache = new AgentCache({ client, projectId: 'p', metrics, logger });
  await cache.get(ref('fresh'));
  const fetched = stats.fetches;
  const skip = new CacheRevalidator({ cache, intervalMs: 60_000, wanted: () => [], metrics, logger });
  await skip.pass();
  assert.equal(stats.fetches, fetched);
  const periodic = new CacheRevalidator({ cache, intervalMs: 1_000, wanted: () => [], metrics, logger });
  periodic.start();
  const deadline = Date.now() + 5_000;
  while (stats.fetches < fetched + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  periodic.stop();
  assert.ok(stats.fetches >= fetched + 2, `fetched ${stats.fetches - fetched} times`);
});

test('a refresh of many entries fetches a bounded number at a time', async () => {
  const { client, stats } = fakeClient();
  const metrics = new AgentMetrics();
  const cache = new AgentCache({ client, projectId: 'p', metrics, logger });
  for (let i = 0; i < 40; i++) await cache.get(ref(`s${i}`));
  stats.maxInFlight = 0;
  await cache.refresh(() => true);
  assert.equal(stats.fetches, 80);
  assert.ok(stats.maxInFlight <= 4, `up to ${stats.maxInFlight} at once`);
});

test('an entry whose fetch keeps failing neither starves the others nor stays current; an unreachable server rotates the start', async () => {
  const { client, answers } = fakeClient();
  const metrics = new AgentMetrics();
  let now = Date.now();
  const cache = new AgentCache({ client, projectId: 'p', metrics, logger, nowMs: () => now });
  for (const path of ['region-away', 'revoked', 'kept']) await cache.get(ref(path));
  cache.setCurrent(true); // the feed is connected: only a failed recheck makes an entry stale
  answers.set('region-away', () => {
    throw apiError(503, 'unavailable');
  });
  answers.set('revoked', () => {
    throw apiError(403, 'permission_denied');
  });
  const revalidator = new CacheRevalidator({
    cache,
    intervalMs: 1_000,
    wanted: () => [],
    metrics,
    logger,
    nowMs: () => now,
  });
  now += 10_000;
  await revalidator.pass();
  assert.deepEqual(
    cache
      .entries()
      .map((e) => e.ref.path)
      .sort(),
    ['kept', 'region-away'],
  );
  const [away, kept] = ['region-away', 'kept'].map((p) => cache.entries().find((e) => e.ref.path === p)!);
  now += 10_000;
  await revalidator.pass(); // stale from the first failure, not the last
  assert.equal(cache.staleMs(away!, now), 10_000);
  assert.equal(cache.staleMs(kept!, now), 0);
  assert.equal(cache.allCurrent, false);
  answers.delete('region-away');
  now += 10_000;
  await revalidator.pass();
  assert.equal(cache.allCurrent, true);

  // The server away: each pass stops at its first fetch, but starts one further on than the last.
  const checked: string[] = [];
  answers.set('region-away', () => {
    checked.push('region-away');
    throw new CofferConnectionError('network', 'http://x', 'r', 1, 'refused');
  });
  answers.set('kept', () => {
    checked.push('kept');
    throw new CofferConnectionError('network', 'http://x', 'r', 1, 'refused');
  });
  for (let pass = 0; pass < 2; pass++) {
    now += 10_000;
    await revalidator.pass();
  }
  assert.deepEqual(checked.sort(), ['kept', 'region-away']);
});
