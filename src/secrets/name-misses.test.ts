import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheInvalidation } from '../storage/cache-invalidation.ts';
import { maxNameMisses, maxNameMissBytes, NameMisses } from './name-misses.ts';
import { SecretMetadataCache } from './secret-metadata-cache.ts';
import { instanceName, secretName } from './secret-types.ts';
import { fixtureInstance, fixtureLocation, fixtureSecret } from '../../test/support/secret-fixtures.ts';

const location = fixtureLocation;
const instance = fixtureInstance();
const secret = fixtureSecret({ path: 'db' });

/** A loader that counts its calls. */
function counted<T>(value: () => T) {
  const load = async () => {
    load.calls++;
    return value();
  };
  load.calls = 0;
  return load;
}

test('names that match no instance never evict cached entries (they are kept apart)', async () => {
  const cache = new SecretMetadataCache(new CacheInvalidation(), { maxEntries: 3, maxBytes: 1 << 20 });
  const loads = {
    instance: counted(() => instance),
    secret: counted(() => secret),
    name: counted(() => 'i1'),
  };
  const warm = async () => {
    await cache.instance(location, 'i1', loads.instance);
    await cache.secret(instance, 'db', loads.secret);
    await cache.instanceIdForName(location, 'main', loads.name);
  };
  await warm();
  // A stranger's made-up names, in other projects and in this one (the guard resolves them before it
  // checks any permission).
  const none = counted(() => undefined);
  for (let i = 0; i < 200; i++) {
    assert.equal(
      await cache.instanceIdForName({ projectId: `x${i}`, regionId: 'r1' }, `junk${i}`, none),
      undefined,
    );
    assert.equal(await cache.instanceIdForName(location, `junk${i}`, none), undefined);
  }
  await warm();
  assert.deepEqual([loads.instance.calls, loads.secret.calls, loads.name.calls], [1, 1, 1]);
  assert.equal(cache.size.entries, 3);
});

test('a name that matches no instance: read once, then answered like a cached name until its location changes', async () => {
  const invalidation = new CacheInvalidation();
  const cache = new SecretMetadataCache(invalidation, { maxEntries: 100, maxBytes: 1 << 20 });
  const none = counted(() => undefined);
  const ask = () => cache.instanceIdForName(location, 'ghost', none);
  const readsAfter = async (what: Parameters<CacheInvalidation['invalidate']>[0]) => {
    await ask();
    const before = none.calls;
    invalidation.invalidate(what);
    await ask();
    await ask();
    return none.calls - before;
  };
  await ask();
  await ask();
  assert.equal(none.calls, 1);
  // Not by a secret's change, another location's instance, or a KMS key.
  assert.equal(await readsAfter([secretName({ ...location, instanceId: 'i1', path: 'db' })]), 0);
  assert.equal(await readsAfter([instanceName({ projectId: 'p1', regionId: 'r2', instanceId: 'i9' })]), 0);
  assert.equal(await readsAfter(['projects/p2']), 0);
  // An instance created or renamed in the location, the location, its project, all.
  assert.equal(await readsAfter([instanceName({ ...location, instanceId: 'i9' })]), 1);
  assert.equal(await readsAfter(['projects/p1/regions/r1']), 1);
  assert.equal(await readsAfter(['projects/p1']), 1);
  assert.equal(await readsAfter('all'), 1);
  // A read during which anything was invalidated is used, not kept.
  invalidation.invalidate('all');
  const racing = counted(() => {
    invalidation.invalidate(['projects/other/z']);
    return undefined;
  });
  await cache.instanceIdForName(location, 'ghost', racing);
  await cache.instanceIdForName(location, 'ghost', racing);
  assert.equal(racing.calls, 2);
  // Once the name exists, it resolves (the instance's creation dropped the miss).
  invalidation.invalidate([instanceName({ ...location, instanceId: 'i7' })]);
  assert.equal(await cache.instanceIdForName(location, 'ghost', async () => 'i7'), 'i7');
});

test('the names that match no instance are bounded by count and bytes, oldest first', () => {
  const misses = new NameMisses(20_000);
  for (let i = 0; i < 3 * maxNameMisses; i++)
    misses.add(`projects/x/regions/r\u0000n${i}`, 'projects/x/regions/r');
  assert.equal(misses.size.entries, maxNameMisses);
  assert.ok(!misses.has('projects/x/regions/r\u0000n0'));
  assert.ok(misses.has(`projects/x/regions/r\u0000n${3 * maxNameMisses - 1}`));
  const long = 'y'.repeat(2048);
  for (let i = 0; i < 1000; i++) misses.add(`projects/x/regions/r\u0000${long}${i}`, 'projects/x/regions/r');
  assert.ok(misses.size.bytes <= maxNameMissBytes, `${misses.size.bytes} bytes`);
  assert.ok(misses.size.entries < maxNameMisses);
  // Never more than the cache's own entry bound.
  const small = new NameMisses(5);
  for (let i = 0; i < 50; i++) small.add(`l\u0000n${i}`, 'l');
  assert.equal(small.size.entries, 5);
  misses.clear();
  assert.deepEqual(misses.size, { entries: 0, bytes: 0 });
});
