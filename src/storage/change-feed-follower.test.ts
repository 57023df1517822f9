import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KyselyPlugin } from 'kysely';
import { CacheInvalidation, type Invalidation, leaseMsFor } from './cache-invalidation.ts';
import { ChangeFeedFollower, invalidateLateCommits, tickDeadlineMs } from './change-feed-follower.ts';
import { changeStatement, pruneStatements } from './change-log.ts';
import { openStorage } from './open-storage.ts';
import type { Storage } from './storage-types.ts';

async function withStorage(fn: (storage: Storage, dir: string) => Promise<void>, writeTimeoutMs = 5000) {
  const dir = mkdtempSync(join(tmpdir(), 'follower-'));
  const storage = await openStorage({ dataDir: dir, writeTimeoutMs });
  try {
    await fn(storage, dir);
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const change = (storage: Storage, resource: string) =>
  changeStatement(storage.db, { type: 'secret.deleted', resource, principal: 'user:a', timeMs: Date.now() });

/** `storage` whose reads never answer while `stalled()` (a half-open connection). */
function stalling(storage: Storage, stalled: () => boolean): Storage {
  const plugin: KyselyPlugin = {
    transformQuery: (args) => args.node,
    transformResult: (args) => (stalled() ? new Promise(() => {}) : Promise.resolve(args.result)),
  };
  return {
    engine: storage.engine,
    db: storage.db.withPlugin(plugin),
    write: (statements) => storage.write(statements),
    withLock: (name, fn) => storage.withLock(name, fn),
    ping: () => storage.ping(),
    close: () => storage.close(),
  };
}

test('the tick deadline and the lease: 1 s at the default poll, longer only for long polls', () => {
  assert.equal(tickDeadlineMs(100), 1000);
  assert.equal(leaseMsFor(100), 1000);
  assert.equal(tickDeadlineMs(5000), 10_000);
  assert.equal(leaseMsFor(5000), 10_200);
});

test('a feed read that never returns fails its tick at the deadline; the next tick runs and delivers', async () => {
  await withStorage(async (storage) => {
    let stall = false;
    const follower = new ChangeFeedFollower(
      stalling(storage, () => stall),
      100,
    );
    const errors: string[] = [];
    const delivered: string[] = [];
    follower.subscribe({
      onChanges: (rows) => delivered.push(...rows.map((r) => r.resource)),
      onError: (err) => errors.push(err.message),
    });
    await follower.start();
    stall = true;
    const stuck = follower.tick();
    await storage.write([change(storage, 'projects/p/a')]);
    const started = performance.now();
    await stuck; // resolves at the deadline, not never
    assert.ok(performance.now() - started >= 900);
    assert.deepEqual(errors, ['the change feed did not answer within 1000 ms']);
    errors.length = 0;
    stall = false;
    await follower.tick(); // may join a tick the timer started while stalled: ends at its deadline
    await follower.tick();
    assert.deepEqual(delivered, ['projects/p/a']);
    assert.deepEqual(errors, []);
    await follower.stop();
  });
});

test('the caches serve hits only while a tick completed within the lease; a lapse empties them', async () => {
  await withStorage(async (storage) => {
    let stall = false;
    const follower = new ChangeFeedFollower(
      stalling(storage, () => stall),
      20,
    );
    const hub = new CacheInvalidation();
    const seen: Invalidation[] = [];
    hub.subscribe((what) => seen.push(what));
    hub.follow(follower, 150);
    await follower.start();
    await follower.tick();
    assert.equal(hub.fresh, true);
    const g = hub.generation;
    assert.equal(hub.generation, g, 'a fresh hub moves only on invalidations');
    stall = true;
    await sleep(300);
    assert.equal(hub.fresh, false, 'no tick completed for 300 ms: no hit may be served');
    assert.ok(seen.includes('all'), 'the lapse invalidated everything');
    assert.notEqual(hub.generation, hub.generation, 'no fill is stored while the lease has lapsed');
    stall = false;
    await sleep(1100); // the tick stalled in flight fails at its deadline (1 s); the next completes
    assert.equal(hub.fresh, true, 'a completed tick renews the lease');
    void follower.stop();
  });
});

test('a hub without a follower is always fresh', () => {
  const hub = new CacheInvalidation();
  assert.equal(hub.fresh, true);
  assert.equal(hub.generation, hub.generation);
});

test('changes pruned before the follower read them invalidate everything', async () => {
  await withStorage(async (storage) => {
    const follower = new ChangeFeedFollower(storage, 60_000);
    const hub = new CacheInvalidation();
    hub.follow(follower);
    const seen: Invalidation[] = [];
    hub.subscribe((what) => seen.push(what));
    await follower.start();
    await storage.write([change(storage, 'projects/p/a')]);
    // Sequence without delivering (another node's follower does this), then prune everything.
    const other = new ChangeFeedFollower(storage, 60_000);
    await other.start();
    await other.tick();
    await sleep(5);
    await storage.write(pruneStatements(storage.db, Date.now() + 1000));
    await follower.tick();
    assert.deepEqual(seen, ['all']);
    await follower.tick();
    assert.deepEqual(seen, ['all'], 'once: the follower moved past the pruned changes');
    await other.stop();
    await follower.stop();
  });
});

test('a write that timed out and commits later is reported: everything is invalidated', async () => {
  await withStorage(async (storage, dir) => {
    const follower = new ChangeFeedFollower(storage, 60_000);
    const hub = new CacheInvalidation();
    const seen: Invalidation[] = [];
    hub.subscribe((what) => seen.push(what));
    invalidateLateCommits(storage, follower, hub);
    await follower.start();
    const blocker = new DatabaseSync(join(dir, 'coffer.db'));
    blocker.exec('BEGIN IMMEDIATE');
    await assert.rejects(storage.write([change(storage, 'projects/p/a')]), /may or may not be applied/);
    assert.deepEqual(seen, []);
    blocker.exec('ROLLBACK');
    blocker.close();
    await sleep(300);
    assert.deepEqual(seen, ['all'], 'the late commit was reported');
    await follower.stop();
  }, 200);
});

test('changes pruned between the prune check and the read are reported: a cursor gap fails the tick', async () => {
  await withStorage(async (real) => {
    let armed = false;
    // The retention job of another node lands right after this node's prune check.
    const plugin: KyselyPlugin = {
      transformQuery: (a) => a.node,
      async transformResult(a) {
        const row = a.result.rows[0] as Record<string, unknown> | undefined;
        if (armed && row && 'pruned_through' in row) {
          armed = false;
          await real.write(pruneStatements(real.db, Date.now() - 60_000));
        }
        return a.result;
      },
    };
    const storage = { ...real, db: real.db.withPlugin(plugin), write: real.write.bind(real) } as Storage;
    const follower = new ChangeFeedFollower(storage, 60_000);
    const delivered: string[] = [];
    let errors = 0;
    follower.subscribe({
      onChanges: (rows) => delivered.push(...rows.map((r) => r.resource)),
      onError: () => void errors++,
    });
    await follower.start();
    const old = (resource: string) =>
      changeStatement(real.db, { type: 'key.disabled', resource, principal: 'user:a', timeMs: 0 });
    await real.write([old('projects/p/old-1'), old('projects/p/old-2')]);
    await real.write([change(real, 'projects/p/new')]);
    armed = true;
    await follower.tick();
    assert.deepEqual(delivered, ['projects/p/new']);
    assert.equal(errors, 1, 'the two pruned changes were never delivered: the tick reports it');
    await follower.tick();
    assert.equal(errors, 1);
    await follower.stop();
  });
});

test('without a deadline (one SQLite node) a tick that waits behind a long unit does not fail', async () => {
  await withStorage(async (storage, dir) => {
    const follower = new ChangeFeedFollower(storage, 100, { deadline: false });
    let errors = 0;
    follower.subscribe({ onChanges: () => undefined, onError: () => void errors++ });
    await follower.start();
    await storage.write([change(storage, 'projects/p/a')]);
    const blocker = new DatabaseSync(join(dir, 'coffer.db'));
    blocker.exec('BEGIN IMMEDIATE');
    const tick = follower.tick();
    await sleep(tickDeadlineMs(100) + 200);
    blocker.exec('ROLLBACK');
    blocker.close();
    await tick;
    assert.equal(errors, 0);
    await follower.stop();
  });
});

test('sync runs a tick that starts after the call: a change that committed while a tick was reading is delivered', async () => {
  await withStorage(async (storage) => {
    let holdNext = false;
    let release: (() => void) | undefined;
    const plugin: KyselyPlugin = {
      transformQuery: (args) => args.node,
      transformResult: (args) => {
        if (!holdNext) return Promise.resolve(args.result);
        holdNext = false;
        return new Promise((resolve) => (release = () => resolve(args.result)));
      },
    };
    const gated: Storage = {
      engine: storage.engine,
      db: storage.db.withPlugin(plugin),
      write: (statements) => storage.write(statements),
      withLock: (name, fn) => storage.withLock(name, fn),
      ping: () => storage.ping(),
      close: () => storage.close(),
    };
    const follower = new ChangeFeedFollower(gated, 60_000);
    const delivered: string[] = [];
    follower.subscribe({
      onChanges: (rows) => delivered.push(...rows.map((r) => r.resource)),
      onError: (err) => delivered.push(err.message),
    });
    await follower.start();
    holdNext = true;
    const inFlight = follower.tick(); // its first read (nothing unsequenced) is held
    while (!release) await sleep(5);
    await storage.write([change(storage, 'projects/p/a')]);
    const synced = follower.sync();
    release();
    await inFlight;
    assert.deepEqual(delivered, [], 'the tick in flight read before the change');
    await synced;
    assert.deepEqual(delivered, ['projects/p/a']);
    await follower.stop();
  });
});
