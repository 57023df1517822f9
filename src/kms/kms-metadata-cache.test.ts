import assert from 'node:assert/strict';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { test } from 'node:test';
import { CacheInvalidation } from '../storage/cache-invalidation.ts';
import { type KmsCacheBounds, KmsMetadataCache } from './kms-metadata-cache.ts';
import { type CryptoKey, type KeyVersion, keyResourceName } from './kms-types.ts';

function key(id: string, project = 'p', state: CryptoKey['state'] = 'active'): CryptoKey {
  return {
    uid: `uid-${project}-${id}`,
    projectId: project,
    regionId: 'r',
    keyRingId: 'ring',
    id,
    slug: null,
    displayName: '',
    algorithm: 'aes256-gcm96',
    purpose: 'encrypt_decrypt',
    state,
    primaryVersion: 1,
    rotationPeriodSeconds: null,
    nextRotationTimeMs: null,
    deletionTimeMs: null,
    createTimeMs: 0,
    updateTimeMs: 0,
  };
}

function version(k: CryptoKey, n: number, state: KeyVersion['state'] = 'enabled'): KeyVersion {
  return {
    keyUid: k.uid,
    version: n,
    state,
    hasMaterial: true,
    publicKeyPem: null,
    createTimeMs: 0,
    destroyTimeMs: null,
  };
}

/** A cache over a counting "storage" of one mutable row per key and version. */
function setup(bounds: KmsCacheBounds = { maxEntries: 100, maxBytes: 1 << 20 }) {
  const hub = new CacheInvalidation();
  const cache = new KmsMetadataCache(hub, bounds);
  const rows = new Map<string, CryptoKey>();
  const versions = new Map<string, KeyVersion>();
  const reads = { keys: 0, versions: 0, materials: 0 };
  const readKey = (k: CryptoKey) => async () => {
    reads.keys++;
    return rows.get(k.uid);
  };
  const getKey = (k: CryptoKey) => cache.keyByName(keyResourceName(k), readKey(k));
  const getVersion = (k: CryptoKey, n: number) =>
    cache.version(k, n, async () => {
      reads.versions++;
      return versions.get(`${k.uid}:${n}`);
    });
  const open = (): Promise<KeyObject> => {
    reads.materials++;
    return Promise.resolve(createSecretKey(Buffer.alloc(32, 7)));
  };
  const store = (k: CryptoKey, ...vs: KeyVersion[]) => {
    rows.set(k.uid, k);
    for (const v of vs) versions.set(`${k.uid}:${v.version}`, v);
  };
  return { hub, cache, rows, versions, reads, readKey, getKey, getVersion, open, store };
}

test('a hit reads nothing; key, version and KeyObject are each read once', async () => {
  const s = setup();
  const a = key('a');
  s.store(a, version(a, 1));
  for (let i = 0; i < 3; i++) {
    assert.equal((await s.getKey(a))?.uid, a.uid);
    assert.equal((await s.cache.keyByUid(a.uid, s.readKey(a)))?.uid, a.uid);
    assert.equal((await s.getVersion(a, 1))?.state, 'enabled');
    await s.cache.material(a, 1, s.open);
  }
  assert.deepEqual(s.reads, { keys: 1, versions: 1, materials: 1 });
  assert.deepEqual(s.cache.size.entries, 2);
});

test('an invalidation naming the key, or a prefix of it, drops the key, its versions and KeyObjects; others stay', async () => {
  const s = setup();
  const a = key('a');
  const b = key('b');
  const other = key('c', 'q');
  for (const k of [a, b, other]) {
    s.store(k, version(k, 1));
    await s.getKey(k);
    await s.getVersion(k, 1);
    await s.cache.material(k, 1, s.open);
  }
  s.store({ ...a, state: 'disabled' });
  s.hub.invalidate([keyResourceName(a), 'projects/p/regions/r/instances/i/secrets/x', 'projects/p']);
  assert.equal((await s.getKey(a))?.state, 'disabled');
  const before = { ...s.reads };
  await s.getKey(other);
  await s.getVersion(other, 1);
  await s.cache.material(other, 1, s.open);
  assert.deepEqual(s.reads, before, 'a key of another project is still cached');
  await s.getKey(b);
  await s.cache.material(b, 1, s.open);
  assert.equal(s.reads.keys, before.keys + 1, 'projects/p dropped every key of p');
  s.hub.invalidate([`${keyResourceName(other)}/versions/1`]);
  await s.getVersion(other, 1);
  assert.equal(s.reads.versions, before.versions + 1, 'something under a key drops the key');
  s.hub.invalidate('all');
  assert.deepEqual(s.cache.size, { entries: 0, bytes: 0 });
});

test('a read that straddles an invalidation answers once and is not cached; not found is never cached', async () => {
  const s = setup();
  const a = key('a');
  s.store(a, version(a, 1));
  let release!: () => void;
  const held = s.cache.keyByName(keyResourceName(a), async () => {
    const row = s.rows.get(a.uid);
    await new Promise<void>((resolve) => (release = resolve));
    return row;
  });
  s.store({ ...a, state: 'disabled' });
  s.hub.invalidate([keyResourceName(a)]);
  // Started after the invalidation: does not join the read that began before it.
  assert.equal((await s.getKey(a))?.state, 'disabled');
  release();
  assert.equal((await held)?.state, 'active');
  assert.equal((await s.getKey(a))?.state, 'disabled', 'the straddling read was not cached');
  const missing = key('missing');
  assert.equal(await s.getKey(missing), undefined);
  s.store(missing);
  assert.equal((await s.getKey(missing))?.uid, missing.uid);
});

test('concurrent misses share one read', async () => {
  const s = setup();
  const a = key('a');
  s.store(a, version(a, 1));
  const found = await Promise.all(Array.from({ length: 20 }, () => s.getKey(a)));
  assert.ok(found.every((k) => k?.uid === a.uid));
  assert.equal(s.reads.keys, 1);
});

test('bounded by entries and bytes (oldest keys go first); 0 entries turns caching off', async () => {
  const s = setup({ maxEntries: 4, maxBytes: 1 << 20 });
  const keys = ['a', 'b', 'c'].map((id) => key(id));
  for (const k of keys) {
    s.store(k, version(k, 1));
    await s.getKey(k);
    await s.getVersion(k, 1);
  }
  assert.equal(s.cache.size.entries, 4);
  const before = s.reads.keys;
  await s.getKey(keys[2]!);
  await s.getKey(keys[0]!);
  assert.equal(s.reads.keys, before + 1, 'the oldest key went');
  const small = setup({ maxEntries: 100, maxBytes: 2000 });
  for (const k of keys) {
    small.store(k, version(k, 1));
    await small.getKey(k);
  }
  assert.ok(small.cache.size.bytes <= 2000 && small.cache.size.entries < 3);
  const off = setup({ maxEntries: 0, maxBytes: 0 });
  off.store(keys[0]!, version(keys[0]!, 1));
  await off.getKey(keys[0]!);
  await off.getKey(keys[0]!);
  assert.equal(off.reads.keys, 2);
  assert.deepEqual(off.cache.size, { entries: 0, bytes: 0 });
});

test('a KeyObject is kept only with an enabled cached version, and only for its time bound', async () => {
  const s = setup({ maxEntries: 100, maxBytes: 1 << 20 });
  const a = key('a');
  s.store(a, version(a, 1), version(a, 2, 'disabled'));
  await s.cache.material(a, 1, s.open);
  await s.cache.material(a, 1, s.open);
  assert.equal(s.reads.materials, 2, 'no cached version row: not kept');
  await s.getVersion(a, 2);
  await s.cache.material(a, 2, s.open);
  await s.cache.material(a, 2, s.open);
  assert.equal(s.reads.materials, 4, 'a disabled version: not kept');
  const timed = setup({ maxEntries: 100, maxBytes: 1 << 20, materialTtlMs: 20 });
  timed.store(a, version(a, 1));
  await timed.getVersion(a, 1);
  await timed.cache.material(a, 1, timed.open);
  await timed.cache.material(a, 1, timed.open);
  assert.equal(timed.reads.materials, 1);
  await new Promise((resolve) => setTimeout(resolve, 30));
  await timed.cache.material(a, 1, timed.open);
  assert.equal(timed.reads.materials, 2, 'unsealed again after its time bound');
});
