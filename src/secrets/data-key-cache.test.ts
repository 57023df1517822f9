import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { sealEnvelope } from '../crypto/envelope.ts';
import { CacheInvalidation } from '../storage/cache-invalidation.ts';
import { CachedDataKey, DataKeyCache } from './data-key-cache.ts';

const secretA = 'projects/p/regions/r/instances/i/secrets/a';
const secretB = 'projects/p/regions/r/instances/i/secrets/b';
const keyK = 'projects/p/regions/r/keyrings/k/keys/x';
const wrapped = Buffer.from('wrapped-key-bytes');

function setup(maxEntries = 100) {
  const invalidation = new CacheInvalidation();
  const clock = { ms: 0 };
  const cache = new DataKeyCache(invalidation, { maxEntries, ttlMs: 1000, now: () => clock.ms });
  const put = (uid: string, secretName: string, keyName: string | null = keyK) =>
    cache.store(
      uid,
      1,
      { secretName, keyName: keyName ?? undefined, wrappedKey: wrapped },
      new CachedDataKey(createSecretKey(randomBytes(32)), keyName ? 1 : undefined),
      cache.start(),
    );
  const has = (uid: string) => cache.find(uid, 1, wrapped) !== undefined;
  return { invalidation, clock, cache, put, has };
}

test('a cached data key opens its own value and nothing else; no method hands out the key', () => {
  const { cache } = setup();
  const dataKey = randomBytes(32);
  const context = Buffer.from('ctx');
  const ciphertext = sealEnvelope(
    {
      id: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
      version: 3,
      algorithm: 'aes-256-gcm',
      material: createSecretKey(dataKey),
    },
    Buffer.from('value'),
    context,
  );
  const handle = new CachedDataKey(createSecretKey(dataKey), 2);
  cache.store(
    '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
    3,
    { secretName: secretA, keyName: keyK, wrappedKey: wrapped },
    handle,
    cache.start(),
  );
  const found = cache.find('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', 3, wrapped)!;
  assert.equal(
    found.open('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', 3, ciphertext, context).toString(),
    'value',
  );
  assert.throws(() =>
    found.open('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', 3, ciphertext, Buffer.from('other')),
  );
  assert.equal(found.kmsKeyVersion, 2);
  assert.deepEqual(Object.keys(found), ['kmsKeyVersion'], 'the KeyObject is a private field');
  assert.equal(cache.find('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', 3, Buffer.from('rewrapped')), undefined);
});

test('dropped on seal (all), on its secret, on its key, on a name above either; others stay', () => {
  const { invalidation, put, has } = setup();
  put('a', secretA);
  put('b', secretB, null);
  invalidation.invalidate([`${keyK}/versions/1`]);
  assert.deepEqual([has('a'), has('b')], [false, true], 'a change under the key drops what it wrapped');
  put('a', secretA);
  invalidation.invalidate([secretB]);
  assert.deepEqual([has('a'), has('b')], [true, false], 'a change naming the secret drops its keys');
  put('b', secretB, null);
  invalidation.invalidate(['projects/p/regions/r/keyrings/k']);
  assert.deepEqual([has('a'), has('b')], [false, true], 'a key ring drops the keys under it');
  put('a', secretA);
  invalidation.invalidate(['projects/p/regions/r/instances/i']);
  assert.deepEqual([has('a'), has('b')], [false, false], 'an instance drops its secrets');
  put('a', secretA);
  invalidation.invalidate(['projects/other', 'projects/p/regions/r/instances/j/secrets/a']);
  assert.equal(has('a'), true, 'changes elsewhere drop nothing');
  invalidation.invalidate('all');
  assert.equal(has('a'), false, 'seal drops everything');
});

test('bounded by count (oldest first) and by time (used or not); 0 entries turns it off', () => {
  const { clock, cache, put, has } = setup(2);
  put('a', secretA);
  put('b', secretB);
  put('c', secretA);
  assert.deepEqual([has('a'), has('b'), has('c'), cache.size], [false, true, true, 2]);
  clock.ms = 999;
  assert.equal(has('b'), true);
  clock.ms = 1000;
  assert.equal(has('b'), false, 'expired at its bound although used');
  const off = setup(0);
  off.put('a', secretA);
  assert.equal(off.has('a'), false);
});

test('an unwrap that raced with an invalidation of its secret or key is not kept', () => {
  const { invalidation, cache, has } = setup();
  const handle = () => new CachedDataKey(createSecretKey(randomBytes(32)), 1);
  for (const name of [secretA, keyK, 'projects/p']) {
    const generation = cache.start();
    invalidation.invalidate([name]);
    cache.store('a', 1, { secretName: secretA, keyName: keyK, wrappedKey: wrapped }, handle(), generation);
    assert.equal(has('a'), false, name);
  }
  const generation = cache.start();
  invalidation.invalidate([secretB]);
  cache.store('a', 1, { secretName: secretA, keyName: keyK, wrappedKey: wrapped }, handle(), generation);
  assert.equal(has('a'), true, 'another secret changing meanwhile does not matter');
});
