import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CacheInvalidation } from '../storage/cache-invalidation.ts';
import { SecretMetadataCache } from './secret-metadata-cache.ts';
import type { Secret } from './secret-types.ts';
import type { SealedVersion } from './secret-version-repo.ts';
import { fixtureInstance, fixtureSecret } from '../../test/support/secret-fixtures.ts';

// The secrets metadata cache bounds the memory it holds, not only the bytes it counts: a storage
// row's small BLOBs become views of Node's shared pool slabs (`Buffer.from`, as findSealedVersion
// does), and a cached view would keep its whole slab alive.

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const instance = fixtureInstance();
const secret = (n: number): Secret => fixtureSecret({ uid: `u${n}`, path: `s${n}` });
/** A sealed version as findSealedVersion builds it from a row (node:sqlite gives Uint8Arrays). */
const fromRow = (s: Secret): SealedVersion => ({
  secretUid: s.uid,
  version: 1,
  state: 'enabled',
  binary: false,
  wrapKeyUid: null,
  followsInstance: true,
  createdBy: 'user:a@example.com',
  createTimeMs: 0,
  destroyTimeMs: null,
  ciphertext: Buffer.from(new Uint8Array(120).fill(1)),
  wrappedKey: Buffer.from(new Uint8Array(60).fill(2)),
});

test('a cached sealed version holds its bytes only, not a pool slab', async () => {
  const cache = new SecretMetadataCache(new CacheInvalidation(), { maxEntries: 100, maxBytes: 1 << 20 });
  const s = secret(0);
  await cache.secret(instance, s.path, async () => s);
  const row = fromRow(s);
  assert.ok(row.ciphertext!.buffer.byteLength > 120, 'the row buffer is a view of a pool slab');
  await cache.version(s, 1, null, async () => row);
  const kept = await cache.version(s, 1, null, async () => assert.fail('served from the cache'));
  assert.deepEqual(kept?.ciphertext, Buffer.alloc(120, 1));
  assert.deepEqual(kept?.wrappedKey, Buffer.alloc(60, 2));
  assert.equal(kept!.ciphertext!.buffer, kept!.wrappedKey!.buffer, 'one allocation for both');
  assert.equal(kept!.ciphertext!.buffer.byteLength, 180);
});

test('what the cache retains stays within maxBytes while requests allocate from the pool', async () => {
  const maxBytes = 1 << 20;
  const cache = new SecretMetadataCache(new CacheInvalidation(), { maxEntries: 100_000, maxBytes });
  gc();
  const before = process.memoryUsage().arrayBuffers;
  const churn: Buffer[] = [];
  for (let n = 0; n < 3000; n++) {
    const s = secret(n);
    await cache.secret(instance, s.path, async () => s);
    await cache.version(s, 1, null, async () => fromRow(s));
    // What a request allocates meanwhile from the same pool (ids, nonces, encodings), dropped at once.
    churn.length = 0;
    for (let k = 0; k < 3; k++) churn.push(Buffer.from('x'.repeat(3000)));
  }
  churn.length = 0;
  gc();
  const retained = process.memoryUsage().arrayBuffers - before;
  assert.ok(cache.size.bytes <= maxBytes);
  assert.ok(cache.size.entries > 500, `${cache.size.entries} entries`);
  assert.ok(retained <= 2 * maxBytes, `the cache counts ${cache.size.bytes} bytes but holds ${retained}`);
});
