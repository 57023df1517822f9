import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CachedSecretReader,
  CofferApiError,
  CofferClient,
  CofferConnectionError,
  type InstanceRef,
  type SecretValueView,
} from '../src/sdk/index.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

const instance: InstanceRef = { projectId: 'p', regionId: 'local', instanceId: 'i' };

/** A stand-in for client.secrets that answers from a script, counting calls, each settled by the test. */
function scriptedSource() {
  let version = 0;
  let failure: Error | undefined;
  const pending: Array<() => void> = [];
  const source = {
    calls: 0,
    /** When true, answers wait until release() is called. */
    hold: false,
    value: 'v1',
    fail(err: Error | undefined) {
      failure = err;
    },
    release() {
      for (const resolve of pending.splice(0)) resolve();
    },
    secrets: {
      getSecretValue: async (): Promise<SecretValueView> => {
        source.calls++;
        if (source.hold) await new Promise<void>((resolve) => pending.push(resolve));
        if (failure) throw failure;
        version++;
        return { value: source.value, version, stages: ['current'], createTime: new Date(0).toISOString() };
      },
    },
  };
  return source;
}

function clock(startMs = 1_000_000) {
  const state = { now: startMs };
  return { now: () => state.now, advance: (ms: number) => (state.now += ms) };
}

const unavailable = () => new CofferApiError(503, 'storage_unavailable', 'down', 'r');
const denied = () => new CofferApiError(403, 'permission_denied', 'no', 'r');
const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('CachedSecretReader (scripted source, injected clock)', () => {
  test('a value is served from memory until its TTL ends, then read again', async () => {
    const source = scriptedSource();
    const time = clock();
    const reader = new CachedSecretReader({
      client: source,
      instance,
      ttlMs: 1_000,
      staleWhileRevalidateMs: 0,
      now: time.now,
    });
    assert.equal(await reader.getText('db'), 'v1');
    time.advance(999);
    assert.equal(await reader.getText('db'), 'v1');
    assert.equal(source.calls, 1);
    source.value = 'v2';
    time.advance(1);
    assert.equal(await reader.getText('db'), 'v2');
    assert.equal(source.calls, 2);
    assert.deepEqual(reader.stats(), {
      hits: 1,
      staleHits: 0,
      misses: 2,
      coalesced: 0,
      fetches: 2,
      fetchErrors: 0,
      staleOnError: 0,
      feedEvents: 0,
      feedRefreshes: 0,
      feedReconnects: 0,
      size: 1,
    });
  });

  test('N concurrent reads of one uncached secret make one call and all get its value', async () => {
    const source = scriptedSource();
    source.hold = true;
    const reader = new CachedSecretReader({ client: source, instance, now: clock().now });
    const reads = Array.from({ length: 100 }, () => reader.getText('db'));
    await flush();
    source.release();
    assert.deepEqual(new Set(await Promise.all(reads)), new Set(['v1']));
    assert.equal(source.calls, 1);
    assert.equal(reader.stats().misses, 100);
    assert.equal(reader.stats().coalesced, 99);
    assert.equal(reader.stats().fetches, 1);
  });

  test('stale-while-revalidate: past the TTL the old value comes at once while one refresh runs', async () => {
    const source = scriptedSource();
    const time = clock();
    const reader = new CachedSecretReader({
      client: source,
      instance,
      ttlMs: 1_000,
      staleWhileRevalidateMs: 5_000,
      now: time.now,
    });
    await reader.get('db');
    source.value = 'v2';
    source.hold = true;
    time.advance(1_500);
    const stale = await Promise.all([reader.getText('db'), reader.getText('db'), reader.getText('db')]);
    assert.deepEqual(stale, ['v1', 'v1', 'v1']);
    assert.equal(source.calls, 2, 'one background refresh for three stale reads');
    source.release();
    await flush();
    await flush();
    assert.equal(await reader.getText('db'), 'v2');
    assert.equal(reader.stats().staleHits, 3);
    assert.equal(reader.stats().hits, 1);
  });

  test('serve-stale-on-error: an unreachable server is hidden for staleIfErrorMs, not longer', async () => {
    const source = scriptedSource();
    const time = clock();
    const reader = new CachedSecretReader({
      client: source,
      instance,
      ttlMs: 1_000,
      staleWhileRevalidateMs: 0,
      staleIfErrorMs: 10_000,
      now: time.now,
    });
    await reader.get('db');
    source.fail(new CofferConnectionError('network', 'http://x', 'r', 1, 'ECONNREFUSED'));
    time.advance(5_000);
    assert.equal(await reader.getText('db'), 'v1');
    source.fail(unavailable());
    assert.equal(await reader.getText('db'), 'v1');
    assert.equal(reader.stats().staleOnError, 2);
    time.advance(6_001);
    await assert.rejects(reader.get('db'), { code: 'storage_unavailable' });
    source.fail(undefined);
    assert.equal(await reader.getText('db'), 'v1');
  });

  test('a denial or a deleted secret is never hidden by a stale value: the entry is dropped', async () => {
    const source = scriptedSource();
    const time = clock();
    const reader = new CachedSecretReader({
      client: source,
      instance,
      ttlMs: 1_000,
      staleWhileRevalidateMs: 0,
      staleIfErrorMs: 60_000,
      now: time.now,
    });
    await reader.get('db');
    source.fail(denied());
    time.advance(1_000);
    await assert.rejects(reader.get('db'), { code: 'permission_denied' });
    assert.equal(reader.stats().size, 0);
    source.fail(new CofferApiError(404, 'not_found', 'gone', 'r'));
    await assert.rejects(reader.get('db'), { code: 'not_found' });
  });

  test('a failed background refresh keeps the value; a denied one drops it', async () => {
    const source = scriptedSource();
    const time = clock();
    const reader = new CachedSecretReader({
      client: source,
      instance,
      ttlMs: 1_000,
      staleWhileRevalidateMs: 5_000,
      now: time.now,
    });
    await reader.get('db');
    source.fail(unavailable());
    time.advance(1_500);
    assert.equal(await reader.getText('db'), 'v1');
    await flush();
    assert.equal(reader.stats().size, 1);
    assert.equal(reader.stats().fetchErrors, 1);
    source.fail(denied());
    assert.equal(await reader.getText('db'), 'v1');
    await flush();
    assert.equal(reader.stats().size, 0);
  });

  test('versions and stages are cached apart; invalidate forgets every one of a path', async () => {
    const source = scriptedSource();
    const reader = new CachedSecretReader({ client: source, instance, now: clock().now });
    await reader.get('db');
    await reader.get('db', { stage: 'previous' });
    await reader.get('db', { version: 1 });
    await reader.get('other');
    assert.equal(source.calls, 4);
    assert.equal(reader.stats().size, 4);
    reader.invalidate('db');
    assert.equal(reader.stats().size, 1);
    reader.invalidate();
    assert.equal(reader.stats().size, 0);
  });

  test('at most maxEntries values are kept, the least recently fetched dropped first', async () => {
    const source = scriptedSource();
    const reader = new CachedSecretReader({ client: source, instance, maxEntries: 2, now: clock().now });
    await reader.get('a');
    await reader.get('b');
    await reader.get('c');
    assert.equal(reader.stats().size, 2);
    await reader.get('b');
    await reader.get('c');
    assert.equal(source.calls, 3);
    await reader.get('a');
    assert.equal(source.calls, 4);
  });

  test('getJson and getBytes decode the value', async () => {
    const source = scriptedSource();
    source.value = '{"port":5432}';
    const reader = new CachedSecretReader({ client: source, instance });
    assert.deepEqual(await reader.getJson<{ port: number }>('db'), { port: 5432 });
    assert.deepEqual(await reader.getBytes('db'), Buffer.from('{"port":5432}'));
  });
});

describe('CachedSecretReader against a real node', () => {
  let node: TestNode;
  let client: CofferClient;
  let ref: InstanceRef;

  before(async () => {
    node = await startTestNode();
    client = new CofferClient({ address: node.url, token: node.adminToken });
    const project = await client.projects.create({ displayName: 'cache' });
    const region = { projectId: project.id, regionId: 'local' };
    const created = await client.secrets.createInstance(region, { name: 'main' });
    ref = { ...region, instanceId: created.id };
    await client.secrets.createSecret(ref, { path: 'app/db', value: 'first' });
  });
  after(() => node?.destroy());

  const valueReads = async () =>
    (
      await client.audit.listEvents(
        { projectId: ref.projectId },
        { action: 'secrets.get_value', pageSize: 1000 },
      )
    ).items.length;

  test('50 concurrent reads make one getSecretValue (one audited reveal); a rotation shows after the TTL', async () => {
    const time = clock(Date.now());
    const reader = new CachedSecretReader({
      client,
      instance: ref,
      ttlMs: 30_000,
      staleWhileRevalidateMs: 0,
      now: time.now,
    });
    const before = await valueReads();
    const values = await Promise.all(Array.from({ length: 50 }, () => reader.getText('app/db')));
    assert.deepEqual(new Set(values), new Set(['first']));
    assert.equal((await valueReads()) - before, 1);

    await client.secrets.putSecretValue({ ...ref, secret: 'app/db' }, { value: 'rotated' });
    assert.equal(await reader.getText('app/db'), 'first', 'within the TTL the cached value stays');
    time.advance(30_000);
    assert.equal(await reader.getText('app/db'), 'rotated');
    assert.equal((await valueReads()) - before, 2);
  });
});
