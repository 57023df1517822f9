import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { CofferError } from '../src/core/errors.ts';
import type { Principal } from '../src/iam/principal.ts';
import { TokenService } from '../src/iam/token-service.ts';
import { openStorage } from '../src/storage/open-storage.ts';
import type { Storage } from '../src/storage/storage-types.ts';

// The guard's hot path authenticates from the token cache without a promise; it must refuse
// exactly what `authenticate` refuses.

let dir: string;
let storage: Storage;
const clock = new ManualClock();
const alice = 'user:alice@example.com' as Principal;
let enabled = true;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-token-cached-'));
  storage = await openStorage({ dataDir: dir, writeTimeoutMs: 5000 });
});
after(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

const isUnauthenticated = (err: unknown) => err instanceof CofferError && err.code === 'unauthenticated';

test('authenticateCached: undefined until looked up, then the principal, refusals as authenticate', async () => {
  const tokens = new TokenService(storage, clock, async () => enabled);
  const { token } = await tokens.issue(alice, 60);
  assert.equal(tokens.authenticateCached(token), undefined, 'not cached before a lookup');
  assert.equal(await tokens.authenticate(token), alice);
  assert.equal(tokens.authenticateCached(token), alice);
  // A malformed or unknown token is never cached: it misses, and authenticate refuses it.
  for (const bad of ['nonsense', `${token.slice(0, -1)}x`]) {
    assert.equal(tokens.authenticateCached(bad), undefined);
    await assert.rejects(tokens.authenticate(bad), isUnauthenticated);
  }
  // Expiry is checked on every cached use.
  clock.advance(60_001);
  assert.throws(() => tokens.authenticateCached(token), isUnauthenticated);
  await assert.rejects(tokens.authenticate(token), isUnauthenticated);
});

test('authenticateCached: a disabled principal is refused from the cache after an invalidation', async () => {
  const tokens = new TokenService(storage, clock, async () => enabled);
  const { token } = await tokens.issue(alice);
  assert.equal(await tokens.authenticate(token), alice);
  enabled = false;
  tokens.invalidate();
  assert.equal(tokens.authenticateCached(token), undefined, 'dropped by the invalidation');
  await assert.rejects(tokens.authenticate(token), isUnauthenticated);
  assert.throws(() => tokens.authenticateCached(token), isUnauthenticated);
  enabled = true;
});
