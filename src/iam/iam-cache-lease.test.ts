// The IAM caches follow the node's feed lease (CacheInvalidation.fresh): a stalled or failing feed
// must not leave a revoked grant or token served from a cache (docs/decisions/0007-metadata-cache.md).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManualClock } from '../core/clock.ts';
import { CacheInvalidation } from '../storage/cache-invalidation.ts';
import { openStorage } from '../storage/open-storage.ts';
import { Authorizer } from './authorizer.ts';
import { type CustomRole, IamRepo, type StoredPolicy } from './iam-repo.ts';
import type { Permission } from './permissions.ts';
import type { Principal } from './principal.ts';
import { TokenService } from './token-service.ts';

class MemoryRepo extends IamRepo {
  readonly policies = new Map<string, StoredPolicy>();
  reads = 0;
  constructor() {
    super(undefined as never);
  }
  override async findPolicy(resource: string): Promise<StoredPolicy | undefined> {
    this.reads++;
    return this.policies.get(resource);
  }
  override async findRole(): Promise<CustomRole | undefined> {
    this.reads++;
    return undefined;
  }
}

/** A hub following a feed that completes a tick only when told (`tick()`), with a 100 ms lease. */
function leasedHub(): { hub: CacheInvalidation; tick: () => void } {
  const hub = new CacheInvalidation();
  let onTick: ((startedAt: number) => void) | undefined;
  hub.follow(
    {
      subscribe: (s) => {
        onTick = s.onTick;
        return () => undefined;
      },
    },
    100,
  );
  return { hub, tick: () => onTick!(performance.now()) };
}

const alice = 'user:alice@example.com' as Principal;
const encrypt = 'kms.encrypt' as Permission;
const key = 'projects/p1/regions/local/keyrings/r1/keys/k1';

test('the authorizer serves cached policies only within the feed lease', async () => {
  const repo = new MemoryRepo();
  repo.policies.set('projects/p1', {
    resource: 'projects/p1',
    bindings: [{ role: 'roles/kms.cryptoKeyEncrypterDecrypter', members: [alice] }],
    etag: 'e',
    updateTimeMs: 0,
  });
  const { hub, tick } = leasedHub();
  const authorizer = new Authorizer(repo, new ManualClock(), () => hub.fresh);
  assert.equal(await authorizer.holds(alice, encrypt, key), true);
  const reads = repo.reads;
  assert.equal(authorizer.holdsCached(alice, encrypt, key), true);
  assert.equal(await authorizer.holds(alice, encrypt, key), true);
  assert.equal(repo.reads, reads, 'hits within the lease');
  await sleep(150); // no tick completed: the lease lapsed (its timer clears `fresh`)
  assert.equal(authorizer.holdsCached(alice, encrypt, key), undefined, 'no cached answer');
  assert.equal(await authorizer.holds(alice, encrypt, key), true);
  assert.equal(await authorizer.holds(alice, encrypt, key), true);
  assert.equal(repo.reads, reads * 3, 'every check reads storage; nothing is cached');
  tick();
  assert.equal(await authorizer.holds(alice, encrypt, key), true);
  assert.equal(authorizer.holdsCached(alice, encrypt, key), true, 'a completed tick renews the lease');
});

test('the token cache serves tokens only within the feed lease', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'iam-lease-'));
  const storage = await openStorage({ dataDir: dir, writeTimeoutMs: 5000 });
  try {
    const { hub, tick } = leasedHub();
    let lookups = 0;
    const tokens = new TokenService(storage, new ManualClock(Date.now()), async () => {
      lookups++;
      return true;
    });
    tokens.serveWithin(() => hub.fresh);
    const { token } = await tokens.issue(alice, 3600);
    assert.equal(await tokens.authenticate(token), alice);
    assert.equal(tokens.authenticateCached(token), alice);
    assert.equal(lookups, 1);
    await sleep(150); // no tick completed: the lease lapsed (its timer clears `fresh`)
    assert.equal(tokens.authenticateCached(token), undefined, 'no cached token once the lease lapsed');
    assert.equal(await tokens.authenticate(token), alice);
    assert.equal(await tokens.authenticate(token), alice);
    assert.equal(lookups, 3, 'every authentication looks the token up; nothing is cached');
    tick();
    assert.equal(await tokens.authenticate(token), alice);
    assert.equal(tokens.authenticateCached(token), alice, 'a completed tick renews the lease');
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
