import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { Authorizer } from './authorizer.ts';
import { type CustomRole, IamRepo, type StoredPolicy } from './iam-repo.ts';
import type { Permission } from './permissions.ts';
import type { Principal } from './principal.ts';

/** Policies and custom roles in memory, counting reads. */
class MemoryRepo extends IamRepo {
  readonly policies = new Map<string, StoredPolicy>();
  readonly roles = new Map<string, CustomRole>();
  reads = 0;
  constructor() {
    super(undefined as never);
  }
  override async findPolicy(resource: string): Promise<StoredPolicy | undefined> {
    this.reads++;
    return this.policies.get(resource);
  }
  override async findRole(name: string): Promise<CustomRole | undefined> {
    this.reads++;
    return this.roles.get(name);
  }
}

const alice = 'user:alice@example.com' as Principal;
const bob = 'user:bob@example.com' as Principal;
const key = 'projects/p1/regions/local/keyrings/r1/keys/k1';

function policy(resource: string, bindings: StoredPolicy['bindings']): StoredPolicy {
  return { resource, bindings, etag: 'e', updateTimeMs: 0 };
}

test('holdsCached answers only from the cache, and then exactly as holds does', async () => {
  const clock = new ManualClock();
  const repo = new MemoryRepo();
  repo.policies.set(
    'projects/p1',
    policy('projects/p1', [
      { role: 'roles/kms.cryptoKeyEncrypterDecrypter', members: [alice] },
      {
        role: 'roles/custom.encrypter',
        members: [bob],
        condition: { title: 'an hour', expiresAtMs: clock.nowMs() + 3_600_000 },
      },
    ]),
  );
  repo.roles.set('roles/custom.encrypter', {
    name: 'roles/custom.encrypter',
    projectId: 'p1',
    title: 'Encrypter',
    permissions: ['kms.encrypt'],
    createTimeMs: 0,
  });
  const authorizer = new Authorizer(repo, clock);
  const cases: Array<[Principal, Permission]> = [
    [alice, 'kms.encrypt' as Permission],
    [alice, 'kms.keys.delete' as Permission],
    [bob, 'kms.encrypt' as Permission],
    [bob, 'kms.decrypt' as Permission],
  ];
  // Nothing cached yet: no answer, and no read made by asking.
  assert.equal(authorizer.holdsCached(alice, 'kms.encrypt' as Permission, key), undefined);
  assert.equal(repo.reads, 0);
  for (const [who, permission] of cases) await authorizer.holds(who, permission, key);
  const reads = repo.reads;
  for (const [who, permission] of cases)
    assert.equal(
      authorizer.holdsCached(who, permission, key),
      await authorizer.holds(who, permission, key),
      `${who} ${permission}`,
    );
  assert.deepEqual(
    cases.map(([who, permission]) => authorizer.holdsCached(who, permission, key)),
    [true, false, true, false],
  );
  assert.equal(repo.reads, reads, 'answered from the cache');
  // A condition that expired stops granting at once, cached or not.
  clock.advance(3_600_001);
  assert.equal(authorizer.holdsCached(bob, 'kms.encrypt' as Permission, key), false);
  // An invalidation empties the cache: no answer until the policies are read again.
  authorizer.invalidate();
  assert.equal(authorizer.holdsCached(alice, 'kms.encrypt' as Permission, key), undefined);
  assert.equal(await authorizer.holds(alice, 'kms.encrypt' as Permission, key), true);
  assert.equal(authorizer.holdsCached(alice, 'kms.encrypt' as Permission, key), true);
  // A malformed resource name is no grant.
  assert.equal(authorizer.holdsCached(alice, 'kms.encrypt' as Permission, 'nonsense'), false);
});
