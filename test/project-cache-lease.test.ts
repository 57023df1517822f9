// Cached projects (the feature gate) follow the node's feed lease (CacheInvalidation.fresh): a
// stalled or failing feed must not leave a gate closed on another node open here.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Barrier } from '../src/barrier/barrier.ts';
import { ManualClock } from '../src/core/clock.ts';
import { ProjectRepo } from '../src/projects/project-repo.ts';
import { ProjectService } from '../src/projects/project-service.ts';
import { CacheInvalidation } from '../src/storage/cache-invalidation.ts';
import { openStorage } from '../src/storage/open-storage.ts';

test('cached projects are served only within the feed lease', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'project-lease-'));
  const storage = await openStorage({ dataDir: dir, writeTimeoutMs: 5000 });
  const find = ProjectRepo.prototype.find;
  try {
    const hub = new CacheInvalidation();
    let onTick: ((startedAt: number) => void) | undefined;
    hub.follow({ subscribe: (s) => ((onTick = s.onTick), () => undefined) }, 100);
    const projects = new ProjectService(storage, new ManualClock(), [{ id: 'local', kms: true }], {
      barrier: new Barrier('file', undefined),
      invalidation: hub,
      maxCached: 100,
    });
    const project = await projects.create({ displayName: 'leased' });
    let reads = 0;
    ProjectRepo.prototype.find = function (this: ProjectRepo, id: string) {
      reads++;
      return find.call(this, id);
    };
    await projects.requireFeature(project.id, 'kms');
    await projects.requireFeature(project.id, 'kms');
    assert.equal(reads, 1, 'a hit within the lease');
    await sleep(150); // no tick completed: the lease lapsed (its timer clears `fresh`)
    await projects.requireFeature(project.id, 'kms');
    await projects.requireFeature(project.id, 'kms');
    assert.equal(reads, 3, 'every lookup reads storage; nothing is cached');
    onTick!(performance.now());
    await projects.requireFeature(project.id, 'kms'); // a read, unless the entry outlived the lapse
    const renewed = reads;
    await projects.requireFeature(project.id, 'kms');
    assert.equal(reads, renewed, 'a completed tick renews the lease: hits again');
  } finally {
    ProjectRepo.prototype.find = find;
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
