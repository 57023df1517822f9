import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Barrier } from '../src/barrier/barrier.ts';
import { ManualClock } from '../src/core/clock.ts';
import { Authorizer } from '../src/iam/authorizer.ts';
import { IamRepo, type StoredPolicy } from '../src/iam/iam-repo.ts';
import type { Principal } from '../src/iam/principal.ts';
import { TokenService } from '../src/iam/token-service.ts';
import { ProjectRepo } from '../src/projects/project-repo.ts';
import { ProjectService } from '../src/projects/project-service.ts';
import { openStorage } from '../src/storage/open-storage.ts';
import type { Storage } from '../src/storage/storage-types.ts';

/** A gate a lookup waits at, opened by the test: makes the interleaving deterministic. */
function gate(): { wait: Promise<void>; open: () => void; reached: Promise<void>; arrive: () => void } {
  let open!: () => void;
  let arrive!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  const reached = new Promise<void>((resolve) => (arrive = resolve));
  return { wait, open, reached, arrive };
}

/** The real repository, except that one policy read pauses after reading, until the test lets it go. */
class PausingRepo extends IamRepo {
  pause: ReturnType<typeof gate> | undefined;
  pausedResource = '';
  override async findPolicy(resource: string): Promise<StoredPolicy | undefined> {
    const policy = await super.findPolicy(resource);
    const pause = this.pause;
    if (pause && resource === this.pausedResource) {
      this.pause = undefined;
      pause.arrive();
      await pause.wait;
    }
    return policy;
  }
}

describe('cache races: a lookup that started before an invalidation never fills the fresh cache', () => {
  let dir: string;
  let storage: Storage;
  const clock = new ManualClock();
  const member = 'serviceAccount:racer@p1.iam.coffer.internal' as Principal;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coffer-race-'));
    storage = await openStorage({ dataDir: dir, writeTimeoutMs: 5000 });
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('authorizer: a policy read before a revocation is not cached after it', async () => {
    const repo = new PausingRepo(storage.db);
    const authorizer = new Authorizer(repo, clock);
    const granted: StoredPolicy = {
      resource: 'projects/p1',
      bindings: [{ role: 'roles/kms.viewer', members: [member] }],
      etag: 'e1',
      updateTimeMs: clock.nowMs(),
    };
    await storage.write([repo.insertPolicy(granted, 'p1')]);
    repo.pause = gate();
    repo.pausedResource = 'projects/p1';
    const pause = repo.pause;
    const inFlight = authorizer.holds(member, 'kms.keys.get', 'projects/p1');
    await pause.reached;
    // The grant is revoked and the cache dropped while the first lookup still holds the old policy.
    await storage.write([repo.updatePolicy({ ...granted, bindings: [], etag: 'e2' }, 'e1')]);
    authorizer.invalidate();
    pause.open();
    assert.equal(await inFlight, true, 'the lookup that began before the change may still see it');
    assert.equal(await authorizer.holds(member, 'kms.keys.get', 'projects/p1'), false);
  });

  test('tokens: a token read before its account was disabled is not cached as usable', async () => {
    const repo = new IamRepo(storage.db);
    await storage.write([
      repo.insertServiceAccount({
        email: 'racer@p1.iam.coffer.internal',
        projectId: 'p1',
        name: 'racer',
        displayName: '',
        disabled: false,
        createTimeMs: clock.nowMs(),
      }),
    ]);
    let pause: ReturnType<typeof gate> | undefined;
    const tokens = new TokenService(storage, clock, async () => {
      const enabled = (await repo.findServiceAccount('racer@p1.iam.coffer.internal'))?.disabled === false;
      const held = pause;
      pause = undefined;
      if (held) {
        held.arrive();
        await held.wait;
      }
      return enabled;
    });
    const { token } = await tokens.issue(member);
    pause = gate();
    const held = pause;
    const inFlight = tokens.authenticate(token);
    await held.reached;
    await storage.write([repo.setServiceAccountDisabled('racer@p1.iam.coffer.internal', true)]);
    tokens.invalidate();
    held.open();
    assert.equal(await inFlight, member);
    await assert.rejects(tokens.authenticate(token), { code: 'unauthenticated' });
  });
  test('projects: a project read before its feature gate closed is not cached with the gate open', async () => {
    const projects = new ProjectService(storage, clock, [{ id: 'local', kms: true }], {
      barrier: new Barrier('file', undefined),
    });
    const project = await projects.create({ displayName: 'gated' });
    let pause: ReturnType<typeof gate> | undefined;
    const find = ProjectRepo.prototype.find;
    ProjectRepo.prototype.find = async function (this: ProjectRepo, id: string) {
      const found = await find.call(this, id);
      const held = pause;
      pause = undefined;
      if (held) {
        held.arrive();
        await held.wait;
      }
      return found;
    };
    try {
      pause = gate();
      const held = pause;
      const inFlight = projects.requireFeature(project.id, 'kms');
      await held.reached;
      await projects.update(project.id, { features: { kms: false } }, project.etag);
      held.open();
      await inFlight; // began before the change: may still see the gate open
      await assert.rejects(projects.requireFeature(project.id, 'kms'), { code: 'feature_disabled' });
    } finally {
      ProjectRepo.prototype.find = find;
    }
  });
});
