// A KeyObject is held at most `materialTtlMs`, used or not: a timer drops it (it used to be checked
// only on use, so an idle node kept it as long as its version stayed cached). And hits are served
// only while the node's feed lease holds (CacheInvalidation.fresh).
import assert from 'node:assert/strict';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CacheInvalidation } from '../storage/cache-invalidation.ts';
import { KmsMetadataCache } from './kms-metadata-cache.ts';
import { type CryptoKey, type KeyVersion, keyResourceName } from './kms-types.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const key: CryptoKey = {
  uid: 'uid-k',
  projectId: 'p',
  regionId: 'r',
  keyRingId: 'ring',
  id: 'k',
  slug: null,
  displayName: '',
  algorithm: 'aes256-gcm96',
  purpose: 'encrypt_decrypt',
  state: 'active',
  primaryVersion: 1,
  rotationPeriodSeconds: null,
  nextRotationTimeMs: null,
  deletionTimeMs: null,
  createTimeMs: 0,
  updateTimeMs: 0,
};
const v1: KeyVersion = {
  keyUid: key.uid,
  version: 1,
  state: 'enabled',
  hasMaterial: true,
  publicKeyPem: null,
  createTimeMs: 0,
  destroyTimeMs: null,
};

test('a KeyObject is not held past materialTtlMs when its version is not used again', async () => {
  const cache = new KmsMetadataCache(new CacheInvalidation(), {
    maxEntries: 100,
    maxBytes: 1 << 20,
    materialTtlMs: 50,
  });
  await cache.keyByName(keyResourceName(key), async () => key);
  await cache.version(key, 1, async () => v1);
  let weak: WeakRef<KeyObject> | undefined;
  await (async () => {
    await cache.material(key, 1, async () => {
      const material = createSecretKey(Buffer.alloc(32, 7));
      weak = new WeakRef(material);
      return material;
    });
  })();
  const withMaterial = cache.size.bytes;
  await sleep(300); // 6 × the bound
  gc();
  await sleep(0);
  gc();
  assert.ok(
    cache.size.bytes < withMaterial,
    `the cache still counts the KeyObject (${cache.size.bytes} bytes)`,
  );
  assert.equal(
    weak!.deref(),
    undefined,
    'the KeyObject is still reachable from the cache after its time bound',
  );
});

test('no hit is served while the feed lease has lapsed (a stalled or failing follower)', async () => {
  const hub = new CacheInvalidation();
  let tick: ((startedAt: number) => void) | undefined;
  hub.follow(
    {
      subscribe: (s) => {
        tick = s.onTick;
        return () => undefined;
      },
    },
    100,
  );
  const cache = new KmsMetadataCache(hub, { maxEntries: 100, maxBytes: 1 << 20 });
  let reads = 0;
  const read = async () => {
    reads++;
    return key;
  };
  await cache.keyByName(keyResourceName(key), read);
  await cache.keyByName(keyResourceName(key), read);
  assert.equal(reads, 1, 'a hit within the lease');
  await sleep(150); // no tick completed: the lease lapsed (its timer clears `fresh`)
  await cache.keyByName(keyResourceName(key), read);
  await cache.keyByName(keyResourceName(key), read);
  assert.equal(reads, 3, 'every lookup reads storage; nothing is cached');
  tick!(performance.now());
  await cache.keyByName(keyResourceName(key), read); // a read, unless the entry outlived the lapse
  const renewed = reads;
  await cache.keyByName(keyResourceName(key), read);
  assert.equal(reads, renewed, 'a completed tick renews the lease: hits again');
});
