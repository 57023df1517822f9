import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheInvalidation } from '../storage/cache-invalidation.ts';
import { rememberedInvalidations } from './metadata-fill-guard.ts';
import { maxVersionsPerSecret, SecretMetadataCache } from './secret-metadata-cache.ts';
import { type Instance, instanceName, type Secret, secretName } from './secret-types.ts';
import type { SealedVersion } from './secret-version-repo.ts';

const location = { projectId: 'p1', regionId: 'r1' };
const instance = (id: string, kmsKeyUid: string | null = null): Instance => ({
  ...location,
  id,
  name: `name-${id}`,
  kmsKey: null,
  kmsKeyUid,
  etag: 'e',
  createTimeMs: 0,
  updateTimeMs: 0,
});
const secret = (inst: Instance, path: string): Secret => ({
  uid: `uid-${inst.id}-${path}`,
  ...location,
  instanceId: inst.id,
  path,
  kmsKeyUid: null,
  labels: {},
  annotations: {},
  expireTimeMs: null,
  rotationPeriodSeconds: null,
  nextRotationTimeMs: null,
  deleteTimeMs: null,
  nextVersion: 2,
  etag: 'e',
  createTimeMs: 0,
  updateTimeMs: 0,
});
const sealed = (s: Secret, version: number, bytes = 32, wrapKeyUid: string | null = null): SealedVersion => ({
  secretUid: s.uid,
  version,
  state: 'enabled',
  binary: false,
  wrapKeyUid,
  followsInstance: true,
  createdBy: 'user:a@example.com',
  createTimeMs: 0,
  destroyTimeMs: null,
  ciphertext: Buffer.alloc(bytes),
  wrappedKey: Buffer.alloc(60),
});

/** A loader that counts its calls. */
function counted<T>(value: () => T) {
  const load = async () => {
    load.calls++;
    return value();
  };
  load.calls = 0;
  return load;
}

function setup(bounds = { maxEntries: 100, maxBytes: 1 << 20 }) {
  const invalidation = new CacheInvalidation();
  return { invalidation, cache: new SecretMetadataCache(invalidation, bounds) };
}

test('hits after the first read; maxEntries 0 reads storage every time', async () => {
  for (const maxEntries of [100, 0]) {
    const { cache } = setup({ maxEntries, maxBytes: 1 << 20 });
    const i = instance('i1');
    const s = secret(i, 'a/b');
    const loads = {
      instance: counted(() => i),
      secret: counted(() => s),
      stages: counted(() => new Map([['current', 1]])),
      latest: counted(() => 1),
      version: counted(() => sealed(s, 1)),
      name: counted(() => 'i1'),
    };
    for (let n = 0; n < 3; n++) {
      assert.equal(await cache.instance(location, 'i1', loads.instance), i);
      assert.equal(await cache.secret(i, 'a/b', loads.secret), s);
      assert.equal((await cache.stages(s, loads.stages)).get('current'), 1);
      assert.equal(await cache.latestEnabled(s, loads.latest), 1);
      assert.equal((await cache.version(s, 1, null, loads.version))?.version, 1);
      assert.equal(await cache.instanceIdForName(location, 'name-i1', loads.name), 'i1');
    }
    for (const [part, load] of Object.entries(loads))
      assert.equal(load.calls, maxEntries === 0 ? 3 : 1, `${part} with maxEntries ${maxEntries}`);
  }
});

test('fresh reads storage and refills; absences are not cached', async () => {
  const { cache } = setup();
  const i = instance('i1');
  const load = counted(() => i);
  await cache.instance(location, 'i1', load);
  await cache.instance(location, 'i1', load, true);
  await cache.instance(location, 'i1', load);
  assert.equal(load.calls, 2);
  const missing = counted(() => undefined);
  await cache.secret(i, 'nope', missing);
  await cache.secret(i, 'nope', missing);
  assert.equal(missing.calls, 2);
});

test('bounded by entries, least recently used first', async () => {
  const { cache } = setup({ maxEntries: 3, maxBytes: 1 << 20 });
  const i = instance('i1');
  const loads = new Map<string, ReturnType<typeof counted<Secret>>>();
  const read = (path: string) => {
    if (!loads.has(path))
      loads.set(
        path,
        counted(() => secret(i, path)),
      );
    return cache.secret(i, path, loads.get(path)!);
  };
  await read('a');
  await read('b');
  await read('c');
  await read('a'); // a is now the most recently used
  await read('d'); // evicts b
  assert.equal(cache.size.entries, 3);
  await read('a');
  await read('c');
  await read('d');
  assert.deepEqual(
    [...loads].map(([path, load]) => [path, load.calls]),
    [
      ['a', 1],
      ['b', 1],
      ['c', 1],
      ['d', 1],
    ],
  );
  await read('b');
  assert.equal(loads.get('b')!.calls, 2, 'b was evicted');
  assert.equal(cache.size.entries, 3);
});

test('bounded by bytes: large ciphertexts count; one secret keeps a few versions', async () => {
  const { cache } = setup({ maxEntries: 1000, maxBytes: 100_000 });
  const i = instance('i1');
  const secrets = Array.from({ length: 10 }, (_, n) => secret(i, `s${n}`));
  for (const s of secrets) {
    await cache.secret(i, s.path, async () => s);
    await cache.version(s, 1, null, async () => sealed(s, 1, 30_000));
  }
  assert.ok(cache.size.bytes <= 100_000, `${cache.size.bytes} bytes`);
  assert.ok(cache.size.entries <= 4, `${cache.size.entries} entries of ≈30 KB`);
  const big = secret(i, 'too-big');
  await cache.secret(i, big.path, async () => big);
  await cache.version(big, 1, null, async () => sealed(big, 1, 200_000));
  assert.ok(cache.size.bytes <= 100_000, 'an entry over the bound alone is not kept');

  const { cache: many } = setup();
  const s = secret(i, 'versions');
  await many.secret(i, s.path, async () => s);
  const load = counted(() => sealed(s, 1));
  for (let v = 1; v <= maxVersionsPerSecret + 2; v++)
    await many.version(s, v, null, async () => sealed(s, v));
  await many.version(s, 1, null, load);
  assert.equal(load.calls, 1, 'the oldest versions were dropped');
  const before = many.size.bytes;
  for (let v = 3; v <= maxVersionsPerSecret + 2; v++) await many.version(s, v, null, load);
  assert.equal(many.size.bytes, before, 'no more than the cap per secret');
});

test('invalidation by resource: a secret, an instance (its secrets and names), a project, all', async () => {
  const { cache, invalidation } = setup();
  const i1 = instance('i1');
  const i2 = instance('i2');
  const a = secret(i1, 'a');
  const ab = secret(i1, 'a/b');
  const c = secret(i2, 'c');
  const loads = new Map<string, { calls: number }>();
  const fill = async () => {
    for (const i of [i1, i2]) {
      const key = `instance ${i.id}`;
      const load = counted(() => i);
      await cache.instance(location, i.id, load);
      loads.set(key, { calls: (loads.get(key)?.calls ?? 0) + load.calls });
    }
    for (const [i, s] of [
      [i1, a],
      [i1, ab],
      [i2, c],
    ] as const) {
      const load = counted(() => s);
      await cache.secret(i, s.path, load);
      await cache.stages(s, async () => {
        load.calls++;
        return new Map();
      });
      loads.set(s.path, { calls: (loads.get(s.path)?.calls ?? 0) + load.calls });
    }
    const load = counted(() => 'i1');
    await cache.instanceIdForName(location, 'main', load);
    loads.set('name', { calls: (loads.get('name')?.calls ?? 0) + load.calls });
  };
  const reloaded = async (what: Parameters<CacheInvalidation['invalidate']>[0]) => {
    await fill();
    const before = new Map([...loads].map(([k, v]) => [k, v.calls]));
    invalidation.invalidate(what);
    await fill();
    return [...loads]
      .filter(([k, v]) => v.calls !== before.get(k))
      .map(([k]) => k)
      .sort();
  };
  await fill();
  // `a` names itself only: not `a/b` (one encoded segment), not a sibling.
  assert.deepEqual(await reloaded([secretName(a)]), ['a']);
  assert.deepEqual(await reloaded([secretName(c)]), ['c']);
  // An instance: itself, its secrets, and the name resolutions of its location.
  assert.deepEqual(await reloaded([instanceName({ ...location, instanceId: 'i1' })]), [
    'a',
    'a/b',
    'instance i1',
    'name',
  ]);
  // A new instance elsewhere in the location changes what `main` resolves to.
  assert.deepEqual(await reloaded([instanceName({ ...location, instanceId: 'i3' })]), ['name']);
  assert.deepEqual(await reloaded(['projects/p1']), ['a', 'a/b', 'c', 'instance i1', 'instance i2', 'name']);
  assert.deepEqual(await reloaded(['projects/p2', 'projects/p1/regions/r1/keyRings/k/cryptoKeys/x']), []);
  assert.deepEqual(await reloaded('all'), ['a', 'a/b', 'c', 'instance i1', 'instance i2', 'name']);
  assert.equal(cache.size.entries, 6);
});

test('the fill race: a read during which its resource (or a prefix, or all) was invalidated is used but not cached', async () => {
  const { cache, invalidation } = setup();
  const i = instance('i1');
  const s = secret(i, 'a');
  const racing = (what: Parameters<CacheInvalidation['invalidate']>[0] | string[][]) => {
    const load = async () => {
      load.calls++;
      // Changes land while the read is in flight.
      for (const one of what === 'all' ? ['all' as const] : (what as string[][]))
        invalidation.invalidate(one);
      return s;
    };
    load.calls = 0;
    return load;
  };
  for (const what of [
    [[secretName(s)]],
    [['projects/other/x'], [instanceName({ ...location, instanceId: 'i1' })]],
    [['projects/p1']],
    'all' as const,
    Array.from({ length: rememberedInvalidations + 1 }, (_, n) => [`projects/other/${n}`]),
  ]) {
    const load = racing(what);
    assert.equal(await cache.secret(i, 'a', load), s);
    assert.equal(await cache.secret(i, 'a', load), s);
    assert.equal(load.calls, 2, `not cached after ${JSON.stringify(what).slice(0, 80)}`);
  }
  // Changes to other resources only: the fill is kept.
  const others = racing([
    ['projects/other/x'],
    [secretName(secret(i, 'ab'))],
    [secretName(secret(i, 'a/b'))],
  ]);
  await cache.secret(i, 'a', others);
  await cache.secret(i, 'a', others);
  assert.equal(others.calls, 1);
  let versionCalls = 0;
  const version = (what: string) => async () => {
    versionCalls++;
    invalidation.invalidate([what]);
    return sealed(s, 1);
  };
  await cache.version(s, 1, null, version(secretName(s)));
  await cache.version(s, 1, null, version(secretName(s)));
  assert.equal(versionCalls, 2, 'a version read while its secret changed is not kept');
  await cache.secret(i, 'a', async () => s); // the change above dropped the secret's entry
  await cache.version(s, 1, null, version('projects/other/y'));
  await cache.version(s, 1, null, version('projects/other/y'));
  assert.equal(versionCalls, 3);
  // A name resolution depends on every instance of its location: any change discards it.
  let nameCalls = 0;
  const name = async () => {
    nameCalls++;
    invalidation.invalidate(['projects/other/z']);
    return 'i1';
  };
  await cache.instanceIdForName(location, 'main', name);
  await cache.instanceIdForName(location, 'main', name);
  assert.equal(nameCalls, 2);
});

test('a version that follows the instance key but is wrapped by another (a rewrap underway) is never served from the cache', async () => {
  const { cache } = setup();
  const i = instance('i1', 'key-b');
  const s = secret(i, 'a');
  await cache.secret(i, 'a', async () => s);
  const old = counted(() => sealed(s, 1, 32, 'key-a'));
  await cache.version(s, 1, 'key-b', old);
  await cache.version(s, 1, 'key-b', old);
  assert.equal(old.calls, 2);
  const rewrapped = counted(() => sealed(s, 1, 32, 'key-b'));
  await cache.version(s, 1, 'key-b', rewrapped);
  await cache.version(s, 1, 'key-b', rewrapped);
  assert.equal(rewrapped.calls, 1);
  // Cached under key-b; an instance now on key-c (its entry refreshed) reads storage again.
  await cache.version(s, 1, 'key-c', rewrapped);
  assert.equal(rewrapped.calls, 2);
});

test('an instance service account: cached, dropped by a change naming it or its project', async () => {
  const { cache, invalidation } = setup();
  const account = {
    email: 'sa@p1.example',
    projectId: 'p1',
    name: 'sa',
    displayName: '',
    disabled: false,
    createTimeMs: 0,
  };
  const load = counted(() => account);
  const read = () => cache.serviceAccount(account.email, load);
  await read();
  await read();
  assert.equal(load.calls, 1);
  invalidation.invalidate(['projects/p1/service-accounts/other@p1.example', 'projects/p2']);
  await read();
  assert.equal(load.calls, 1);
  invalidation.invalidate(['projects/p1/service-accounts/sa@p1.example']);
  await read();
  assert.equal(load.calls, 2);
  invalidation.invalidate(['projects/p1']);
  await read();
  assert.equal(load.calls, 3);
  invalidation.invalidate('all');
  await read();
  assert.equal(load.calls, 4);
});

test("a put's result is put back only when its own invalidation was the one naming the secret", async () => {
  for (const concurrent of [undefined, 'same secret', 'its instance', 'all', 'another secret'] as const) {
    const { invalidation, cache } = setup();
    const i = instance('i1');
    const s = secret(i, 'p');
    await cache.secret(i, 'p', async () => s);
    await cache.stages(s, async () => new Map([['current', 1]]));
    await cache.version(s, 1, null, async () => sealed(s, 1));
    const generation = cache.startWrite();
    invalidation.invalidate([secretName(s)]); // the put's own change record
    if (concurrent === 'same secret') invalidation.invalidate([secretName(s)]);
    if (concurrent === 'its instance') invalidation.invalidate([instanceName({ ...i, instanceId: i.id })]);
    if (concurrent === 'all') invalidation.invalidate('all');
    if (concurrent === 'another secret') invalidation.invalidate([secretName(secret(i, 'q'))]);
    const after = { ...s, nextVersion: 3, etag: 'e2' };
    const stages = new Map([
      ['current', 2],
      ['previous', 1],
    ]);
    cache.committedPut(i, s, after, stages, sealed(s, 2), generation);
    const loads = { secret: counted(() => after), version: counted(() => sealed(after, 1)) };
    const found = await cache.secret(i, 'p', loads.secret);
    const kept = concurrent === undefined || concurrent === 'another secret';
    assert.equal(loads.secret.calls, kept ? 0 : 1, String(concurrent));
    if (!kept) continue;
    assert.equal(found, after);
    assert.equal(await cache.stages(after, async () => new Map()), stages);
    assert.equal(await cache.latestEnabled(after, async () => undefined), 2);
    assert.equal((await cache.version(after, 2, null, async () => undefined))?.version, 2);
    assert.equal((await cache.version(after, 1, null, loads.version))?.version, 1);
    assert.equal(loads.version.calls, 0, 'the versions cached before the put stay');
  }
});
