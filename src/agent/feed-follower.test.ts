import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../core/logger.ts';
import type { CofferClient } from '../sdk/index.ts';
import { AgentCache, type CacheEntry } from './agent-cache.ts';
import { AgentMetrics } from './agent-metrics.ts';
import { affectedBy, type FeedChange } from './feed-follower.ts';
import { FeedFollower } from './feed-follower.ts';

const logger = createLogger('silent');
const project = 'p1';
const change = (resource: string, cursor = '1'): FeedChange => ({
  cursor,
  time: new Date().toISOString(),
  type: 'version.added',
  resource,
});
const entry = (regionId: string, path: string) =>
  ({ ref: { regionId, instanceId: 'main', path, version: undefined, stage: undefined } }) as CacheEntry;

test('a secret change selects that secret’s entries in its region, whatever the instance is called', () => {
  const matches = affectedBy(
    change(`projects/${project}/regions/local/instances/uuid-1/secrets/prod%2Fdb`),
    project,
  )!;
  assert.equal(matches(entry('local', 'prod/db')), true);
  assert.equal(matches(entry('local', 'prod/db2')), false);
  assert.equal(matches(entry('eu', 'prod/db')), false);
  const version = affectedBy(
    change(`projects/${project}/regions/local/instances/i/secrets/prod%2Fdb/versions/3`),
    project,
  )!;
  assert.equal(version(entry('local', 'prod/db')), true);
});

test('region, instance and key changes (and policy changes on them) select the region, a project change all, other projects and accounts none', () => {
  assert.equal(
    affectedBy(change(`projects/${project}/regions/local/instances/i`), project)!(entry('local', 'a')),
    true,
  );
  assert.equal(
    affectedBy(change(`projects/${project}/regions/local/keyrings/r/keys/k`), project)!(entry('eu', 'a')),
    false,
  );
  assert.equal(affectedBy(change(`projects/${project}`), project)!(entry('eu', 'a')), true);
  const region = affectedBy(change(`projects/${project}/regions/local`), project)!;
  assert.equal(region(entry('local', 'a')), true);
  assert.equal(region(entry('eu', 'a')), false);
  assert.equal(affectedBy(change(`projects/other/regions/local/instances/i/secrets/a`), project), undefined);
  assert.equal(affectedBy(change(`projects/${project}/service-accounts/sa@x`), project), undefined);
});

test('a gone cursor refetches every cached entry once and follows on from the head cursor', async () => {
  let fetches = 0;
  const client = {
    secrets: {
      getSecretValue: async () => {
        fetches++;
        return { value: `v${fetches}`, version: fetches, stages: [], createTime: '2026-01-01T00:00:00Z' };
      },
    },
  } as unknown as CofferClient;
  const metrics = new AgentMetrics();
  const cache = new AgentCache({ client, projectId: project, metrics, logger });
  for (const path of ['a', 'b'])
    await cache.get({ regionId: 'local', instanceId: 'main', path, version: undefined, stage: undefined });
  assert.equal(fetches, 2);
  const opened: string[] = [];
  const follower = new FeedFollower({
    projectId: project,
    cache,
    metrics,
    logger,
    probe: async () => undefined,
    probeIntervalMs: 60_000,
    latest: async () => '100',
    open: (after, signal) => {
      opened.push(after);
      return (async function* () {
        if (opened.length === 1) {
          yield change(`projects/${project}/regions/local/instances/main/secrets/a`, '6');
          throw Object.assign(new Error('pruned'), { code: 'gone' });
        }
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
      })();
    },
  });
  follower.start('5');
  const deadline = Date.now() + 5_000;
  while (opened.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  await follower.stop();
  assert.deepEqual(opened, ['5', '100']);
  // One fetch for the change of `a`, then one per entry for the resync.
  assert.equal(fetches, 5);
  assert.equal(cache.current, true);
});
