import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ChangeFeedService } from '../src/app/change-feed-service.ts';
import { ManualClock } from '../src/core/clock.ts';
import { Authorizer } from '../src/iam/authorizer.ts';
import { IamRepo } from '../src/iam/iam-repo.ts';
import type { Permission } from '../src/iam/permissions.ts';
import type { Principal } from '../src/iam/principal.ts';
import type { ChangeRow } from '../src/storage/change-log.ts';
import { openStorage } from '../src/storage/open-storage.ts';
import type { Storage } from '../src/storage/storage-types.ts';

/** The real authorizer, counting the decisions it is asked for per principal (and failing on demand). */
class CountingAuthorizer extends Authorizer {
  readonly decisions = new Map<string, number>();
  failNext = false;
  override async holdsAny(
    principal: Principal,
    permissions: Permission | readonly Permission[],
    resource: string,
  ): Promise<boolean> {
    this.decisions.set(principal, (this.decisions.get(principal) ?? 0) + 1);
    if (this.failNext) {
      this.failNext = false;
      throw new Error('storage failed');
    }
    return super.holdsAny(principal, permissions, resource);
  }
}

/**
 * The change feed decides a row's visibility once per principal for all the streams of a follower
 * batch (ChangeFeedService.visibleShared): each principal still gets its own decision, the audience
 * rule still applies, and a decision is not reused after the IAM caches were dropped.
 */
describe('change feed: visibility shared per principal and row', () => {
  let dir: string;
  let storage: Storage;
  let repo: IamRepo;
  const clock = new ManualClock();
  const reader = 'serviceAccount:reader@p1.iam.coffer.internal' as Principal;
  const stranger = 'serviceAccount:stranger@p1.iam.coffer.internal' as Principal;
  const formerReader = 'user:former@example.com' as Principal;
  const instance = 'projects/p1/regions/local/instances/i1';
  const secret = `${instance}/secrets/s1`;
  const row = (over: Partial<ChangeRow> = {}): ChangeRow => ({
    cursor: 7,
    timeMs: clock.nowMs(),
    type: 'secret.version.added',
    resource: secret,
    projectId: 'p1',
    principal: 'user:admin@example.com',
    version: 2,
    stage: null,
    audience: null,
    ...over,
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coffer-shared-visibility-'));
    storage = await openStorage({ dataDir: dir, writeTimeoutMs: 5000 });
    repo = new IamRepo(storage.db);
    await storage.write([
      repo.insertPolicy(
        {
          resource: instance,
          bindings: [{ role: 'roles/secretsmanager.secretAccessor', members: [reader] }],
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

  test('two principals on one batch get their own decisions, each made once for all their streams', async () => {
    const authorizer = new CountingAuthorizer(repo, clock);
    const feed = new ChangeFeedService(storage, authorizer);
    const change = row();
    // 500 streams of each principal handle the same row object at once.
    const answers = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => feed.visibleShared(i % 2 ? reader : stranger, change)),
    );
    assert.deepEqual(
      answers,
      Array.from({ length: 1000 }, (_, i) => i % 2 === 1),
    );
    assert.equal(authorizer.decisions.get(reader), 1);
    assert.equal(authorizer.decisions.get(stranger), 1);
    // Once decided, later streams get the answer synchronously.
    assert.equal(feed.visibleShared(reader, change), true);
    assert.equal(feed.visibleShared(stranger, change), false);
    // The same answers as the unshared check.
    assert.equal(await feed.visible(reader, change), true);
    assert.equal(await feed.visible(stranger, change), false);
  });

  test('a removal row is shown to its audience, and only to it among those who cannot read now', async () => {
    const authorizer = new CountingAuthorizer(repo, clock);
    const feed = new ChangeFeedService(storage, authorizer);
    const removal = row({ type: 'secret.purged', version: null, audience: [formerReader] });
    assert.equal(await feed.visibleShared(formerReader, removal), true);
    assert.equal(await feed.visibleShared(reader, removal), true);
    assert.equal(await feed.visibleShared(stranger, removal), false);
    // The audience decides without asking the authorizer.
    assert.equal(authorizer.decisions.get(formerReader), undefined);
  });

  test('other row objects (a stream catching up reads its own rows) are decided separately', async () => {
    const authorizer = new CountingAuthorizer(repo, clock);
    const feed = new ChangeFeedService(storage, authorizer);
    await feed.visibleShared(reader, row());
    await feed.visibleShared(reader, row());
    assert.equal(authorizer.decisions.get(reader), 2);
  });

  test('a decision is not reused after an invalidation: a revoked reader stops seeing the row', async () => {
    const authorizer = new CountingAuthorizer(repo, clock);
    const feed = new ChangeFeedService(storage, authorizer);
    const change = row();
    assert.equal(await feed.visibleShared(reader, change), true);
    await storage.write([
      repo.updatePolicy({ resource: instance, bindings: [], etag: 'e2', updateTimeMs: clock.nowMs() }, 'e1'),
    ]);
    try {
      authorizer.invalidate();
      assert.equal(await feed.visibleShared(reader, change), false);
      assert.equal(authorizer.decisions.get(reader), 2);
    } finally {
      await storage.write([
        repo.updatePolicy(
          {
            resource: instance,
            bindings: [{ role: 'roles/secretsmanager.secretAccessor', members: [reader] }],
            etag: 'e3',
            updateTimeMs: clock.nowMs(),
          },
          'e2',
        ),
      ]);
    }
  });

  test('a decision that failed is not kept: the next stream decides again', async () => {
    const authorizer = new CountingAuthorizer(repo, clock);
    const feed = new ChangeFeedService(storage, authorizer);
    const change = row();
    authorizer.failNext = true;
    await assert.rejects(async () => feed.visibleShared(reader, change), /storage failed/);
    assert.equal(await feed.visibleShared(reader, change), true);
    assert.equal(authorizer.decisions.get(reader), 2);
  });

  test('holdsAny agrees with held for one permission and for several', async () => {
    const authorizer = new Authorizer(repo, clock);
    const cases: [Principal, readonly Permission[], string][] = [
      [reader, ['secrets.get_value'], secret],
      [reader, ['secrets.secrets.delete'], secret],
      [reader, ['secrets.secrets.get', 'secrets.get_value'], secret],
      [reader, ['secrets.secrets.delete', 'secrets.secrets.get'], secret],
      [stranger, ['secrets.secrets.get', 'secrets.get_value'], secret],
      [reader, ['secrets.get_value'], 'projects/p1/regions/local/instances/i2/secrets/s1'],
      [reader, ['secrets.get_value'], 'not/a/resource/name'],
    ];
    for (const [principal, permissions, resource] of cases) {
      const expected = (await authorizer.held(principal, permissions, resource)).length > 0;
      assert.equal(
        await authorizer.holdsAny(principal, permissions, resource),
        expected,
        `${permissions} ${resource}`,
      );
      if (permissions.length === 1) {
        assert.equal(await authorizer.holdsAny(principal, permissions[0]!, resource), expected);
        assert.equal(await authorizer.holds(principal, permissions[0]!, resource), expected);
      }
    }
  });
});
