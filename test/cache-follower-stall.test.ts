// Was a hole: a feed read that never returns (a half-open PostgreSQL connection; pg sets no query timeout
// and TCP keepalive starts after the OS default of 2 h) stalls the node's follower for good: tick()
// joins the tick in flight, nothing calls onError, so no invalidation ever reaches the metadata
// caches, which kept serving a key disabled / version destroyed elsewhere (the "within 1 s" rule).
// Now the tick fails at its deadline (1 s) and the caches serve hits only within the feed lease (1 s).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KyselyPlugin } from 'kysely';
import { openStorage } from '../src/storage/open-storage.ts';
import { CacheInvalidation } from '../src/storage/cache-invalidation.ts';
import { ChangeFeedFollower } from '../src/storage/change-feed-follower.ts';
import { changeStatement } from '../src/storage/change-log.ts';
import { SecretMetadataCache } from '../src/secrets/secret-metadata-cache.ts';
import { secretName } from '../src/secrets/secret-types.ts';
import { fixtureInstance, fixtureLocation, fixtureSecret } from './support/secret-fixtures.ts';

const location = fixtureLocation;
const instance = fixtureInstance();
const secret = fixtureSecret({ path: 'db/password' });

test('a stalled feed read does not leave node B serving a change made on node A for more than 1 s', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'review-cache-'));
  const storage = await openStorage({ dataDir: dir, writeTimeoutMs: 5000 });
  try {
    let stall = false;
    const stallPlugin: KyselyPlugin = {
      transformQuery: (args) => args.node,
      transformResult: (args) => (stall ? new Promise(() => {}) : Promise.resolve(args.result)),
    };
    // Node B: its own follower (100 ms) over a connection that may stall, its own caches.
    const nodeB = { ...storage, db: storage.db.withPlugin(stallPlugin) };
    const follower = new ChangeFeedFollower(nodeB, 100);
    const hub = new CacheInvalidation();
    hub.follow(follower);
    const cache = new SecretMetadataCache(hub, { maxEntries: 100, maxBytes: 1 << 20 });
    await follower.start();
    await cache.instance(location, 'i1', async () => instance);
    await cache.secret(instance, secret.path, async () => secret);

    stall = true; // B's connection goes half-open; its next feed read never returns.
    await sleep(250);
    // Node A deletes the secret (any change naming it).
    await storage.write([
      changeStatement(storage.db, {
        type: 'secret.deleted',
        resource: secretName(secret),
        projectId: 'p1',
        principal: 'user:a',
        timeMs: Date.now(),
      }),
    ]);
    await sleep(1500);
    let reads = 0;
    await cache.secret(instance, secret.path, async () => {
      reads++;
      return { ...secret, deleteTimeMs: 1 };
    });
    void follower.stop(); // never settles: the tick in flight never does
    assert.equal(reads, 1, 'after 1.75 s of a stalled feed B still serves the secret from its cache');
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
