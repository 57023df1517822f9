import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { Authorizer } from '../src/iam/authorizer.ts';
import { type CustomRole, IamRepo, type StoredPolicy } from '../src/iam/iam-repo.ts';
import type { Permission } from '../src/iam/permissions.ts';
import type { Principal } from '../src/iam/principal.ts';
import { openStorage } from '../src/storage/open-storage.ts';
import type { Storage } from '../src/storage/storage-types.ts';

/** The real repository, counting reads per name. */
class CountingRepo extends IamRepo {
  readonly policyReads = new Map<string, number>();
  readonly roleReads = new Map<string, number>();
  override async findPolicy(resource: string): Promise<StoredPolicy | undefined> {
    this.policyReads.set(resource, (this.policyReads.get(resource) ?? 0) + 1);
    return super.findPolicy(resource);
  }
  override async findRole(name: string): Promise<CustomRole | undefined> {
    this.roleReads.set(name, (this.roleReads.get(name) ?? 0) + 1);
    return super.findRole(name);
  }
}

/**
 * After a change drops the IAM cache, every open change stream checks the same resources at once
 * (1,000 streams: thousands of identical policy reads queued on one SQLite connection). Concurrent
 * misses share one read per name; a check that starts after an invalidation still reads afresh.
 */
describe('authorizer: concurrent cache misses share one read', () => {
  let dir: string;
  let storage: Storage;
  const clock = new ManualClock();
  const member = 'serviceAccount:reader@p1.iam.coffer.internal' as Principal;
  const secret = 'projects/p1/regions/local/instances/i1/secrets/s1';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coffer-shared-reads-'));
    storage = await openStorage({ dataDir: dir, writeTimeoutMs: 5000 });
    const repo = new IamRepo(storage.db);
    await storage.write([
      repo.insertPolicy(
        {
          resource: 'projects/p1/regions/local/instances/i1',
          bindings: [{ role: 'roles/secretsmanager.secretAccessor', members: [member] }],
          etag: 'e1',
          updateTimeMs: clock.nowMs(),
        },
        'p1',
      ),
    ]);
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('500 concurrent checks on a cold cache read each ancestor policy once, and agree', async () => {
    const repo = new CountingRepo(storage.db);
    const authorizer = new Authorizer(repo, clock);
    const answers = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        authorizer.holds(member, i % 2 ? 'secrets.get_value' : 'secrets.secrets.delete', secret),
      ),
    );
    assert.deepEqual(
      answers,
      Array.from({ length: 500 }, (_, i) => i % 2 === 1),
    );
    assert.ok(repo.policyReads.size > 0);
    for (const [resource, reads] of repo.policyReads) assert.equal(reads, 1, resource);
  });

  test('a check that starts after an invalidation does not join a read that began before it', async () => {
    const repo = new CountingRepo(storage.db);
    const authorizer = new Authorizer(repo, clock);
    const first = authorizer.holds(member, 'secrets.get_value', secret);
    authorizer.invalidate();
    const second = authorizer.holds(member, 'secrets.get_value', secret);
    assert.deepEqual(await Promise.all([first, second]), [true, true]);
    // The chain is read from the root down: the root's read was in flight at the invalidation.
    assert.equal(repo.policyReads.get('root'), 2, 'one read before and one after the invalidation');
    // Reads that began after the invalidation were cached.
    const before = new Map(repo.policyReads);
    await authorizer.holds(member, 'secrets.get_value', secret);
    assert.deepEqual(repo.policyReads, before);
  });

  test('a decision from warm caches (no await per ancestor) equals the one that read them', async () => {
    const repo = new IamRepo(storage.db);
    const other = 'projects/p2/regions/local/instances/i2/secrets/s2';
    await storage.write([
      repo.insertPolicy(
        {
          resource: 'projects/p2',
          bindings: [
            {
              role: 'roles/secretsmanager.admin',
              members: [member],
              condition: { title: 'soon', expiresAtMs: clock.nowMs() + 60_000 },
            },
            { role: 'projects/p2/roles/none', members: [member] },
          ],
          etag: 'e1',
          updateTimeMs: clock.nowMs(),
        },
        'p2',
      ),
    ]);
    const asks: [readonly Permission[], string, { unconditionalOnly?: boolean }][] = [
      [['secrets.get_value', 'secrets.secrets.delete'], secret, {}],
      [['secrets.get_value', 'secrets.secrets.delete', 'secrets.secrets.get'], other, {}],
      [['secrets.get_value', 'secrets.secrets.delete'], other, { unconditionalOnly: true }],
      [['kms.keys.get'], 'projects/p2/keyrings/r/keys/k', {}],
      [['secrets.get_value'], 'not/a/resource', {}],
    ];
    const authorizer = new Authorizer(new CountingRepo(storage.db), clock);
    for (const when of [0, 61_000]) {
      clock.advance(when);
      authorizer.invalidate();
      const cold = [];
      for (const [permissions, resource, options] of asks)
        cold.push(await authorizer.held(member, permissions, resource, options));
      const warm = [];
      for (const [permissions, resource, options] of asks)
        warm.push(await authorizer.held(member, permissions, resource, options));
      assert.deepEqual(warm, cold);
    }
  });

  test('concurrent checks through one custom role read the role once', async () => {
    const repo = new CountingRepo(storage.db);
    await storage.write([
      repo.insertPolicy(
        {
          resource: 'projects/p1',
          bindings: [{ role: 'projects/p1/roles/reader', members: [member] }],
          etag: 'e1',
          updateTimeMs: clock.nowMs(),
        },
        'p1',
      ),
    ]);
    const authorizer = new Authorizer(repo, clock);
    await Promise.all(
      Array.from({ length: 100 }, () => authorizer.holds(member, 'kms.keys.get', 'projects/p1/keyrings/r')),
    );
    assert.equal(repo.roleReads.get('projects/p1/roles/reader'), 1);
  });
});
