import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  initPrivatePostgres,
  postgresBinaries,
  PrivatePostgresUnavailable,
  privatePostgresServer,
} from './support/private-postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

/**
 * A real full disk: the data dir (SQLite) or a private PostgreSQL cluster's data directory is a small
 * tmpfs, filled with a filler file. Mounting needs root (CI runs as root); elsewhere the tests skip
 * with a message, except under CI=true, where they fail.
 */
function mountSmallDisk(size: string): { dir: string; unmount(): void } | string {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const reason = `cannot mount a small tmpfs (needs root): ${(err as Error).message.split('\n')[0]}`;
    if (process.env.CI === 'true') throw new Error(reason, { cause: err });
    return reason;
  }
  return {
    dir,
    unmount() {
      // Once only: the test unmounts, and so does the file's after() hook (for a test filtered out).
      if (!existsSync(dir)) return;
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes `path` until the file system says ENOSPC. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

/** What differs between the engines once the disk is full. */
interface FullDiskOptions {
  /**
   * PostgreSQL may stop altogether (a PANIC when its WAL cannot grow): then reads fail too, with
   * `storage_unavailable`, before any audit write is tried. Either way nothing is revealed.
   */
  readonly readsMayFailOnStorage: boolean;
  /** Runs once the filler is gone (an operator restarting a PostgreSQL that stopped). */
  readonly afterSpaceIsBack?: () => Promise<void>;
}

/**
 * Fills the disk under `fillDir` while a secret is written and read; checks that every failure is a
 * 503 that reveals nothing, that health degrades, and that once space is back writes work again, no
 * acknowledged write is lost, every 2xx answer has its audit event and the chain verifies.
 */
async function fullDiskScenario(node: TestNode, fillDir: string, options: FullDiskOptions): Promise<void> {
  const token = node.adminToken!;
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
  const planted = 'planted-disk-full-value';
  const project = (await api('POST', '/v2/projects', { displayName: 'full' })).body.id;
  const region = `/v2/projects/${project}/regions/local`;
  const instance = (await api('POST', `${region}/instances`, { name: 'i' })).body.id;
  const secret = `${region}/instances/${instance}/secrets/db`;
  assert.equal(
    (await api('POST', `${region}/instances/${instance}/secrets`, { path: 'db', value: planted })).status,
    201,
  );
  const readFailures = options.readsMayFailOnStorage
    ? ['audit_unavailable', 'storage_unavailable']
    : ['audit_unavailable'];

  fill(join(fillDir, 'filler'));
  // Each answer the server gave while the disk was full, by request id.
  const answered: { requestId: string; status: number; kind: 'get' | 'put'; value?: string }[] = [];
  const big = 'x'.repeat(60_000);
  const failed: Record<string, string> = {};
  // Until a reveal fails too: on PostgreSQL a large value may fail while small rows still fit in
  // pages that have room, so once a put has failed the puts go on with small values.
  for (let i = 1; i <= 3000 && failed.get === undefined; i++) {
    const value = `${i}:${failed.put === undefined ? big : 'y'.repeat(2000)}`;
    const put = await api('PUT', `${secret}/value`, { value });
    answered.push({ requestId: put.headers.get('x-request-id')!, status: put.status, kind: 'put', value });
    const get = await api('GET', `${secret}/value`);
    answered.push({ requestId: get.headers.get('x-request-id')!, status: get.status, kind: 'get' });
    for (const [kind, res] of [
      ['put', put],
      ['get', get],
    ] as const) {
      assert.ok([200, 201, 503].includes(res.status), `status ${res.status}: ${JSON.stringify(res.body)}`);
      if (res.status === 503) failed[kind] = res.body.error.code;
    }
  }
  assert.ok(failed.get !== undefined, 'the full disk made a reveal fail');
  // A change that cannot commit says so; a read whose audit event cannot commit is withheld.
  if (failed.put) assert.equal(failed.put, 'storage_unavailable');
  if (failed.get) assert.ok(readFailures.includes(failed.get), failed.get);
  const health = await api('GET', '/v2/health');
  assert.equal(health.body.status, 'degraded', JSON.stringify(health.body));
  const whileFull = await api('GET', `${secret}/value`);
  assert.equal(whileFull.status, 503, 'a reveal whose audit cannot be written is withheld');
  assert.ok(readFailures.includes(whileFull.body.error.code), whileFull.body.error.code);
  assert.equal(whileFull.body.value, undefined);
  answered.push({ requestId: whileFull.headers.get('x-request-id')!, status: 503, kind: 'get' });

  rmSync(join(fillDir, 'filler'));
  await options.afterSpaceIsBack?.();
  let recovered = 0;
  for (let attempt = 0; attempt < 100 && recovered !== 201; attempt++) {
    recovered = (await api('PUT', `${secret}/value`, { value: 'after' })).status;
    if (recovered !== 201) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(recovered, 201, 'writes work again once space is back');
  assert.equal((await api('GET', `${secret}/value`)).body.value, 'after');
  assert.equal((await api('GET', '/v2/health')).body.status, 'ok');

  // Nothing was answered unaudited, and no acknowledged write was lost.
  const db = node.app.storage.db;
  for (const answer of answered.filter((a) => a.status < 300)) {
    const events = await db
      .selectFrom('audit_events')
      .select('action')
      .where('request_id', '=', answer.requestId)
      .execute();
    const action = answer.kind === 'get' ? 'secrets.get_value' : 'secrets.put_value';
    assert.ok(
      events.some((e) => e.action === action),
      `${answer.kind} ${answer.requestId} answered ${answer.status} has its event`,
    );
  }
  const versions = (await api('GET', `${secret}/versions?pageSize=1000`)).body.items as unknown[];
  const acknowledgedPuts = answered.filter((a) => a.kind === 'put' && a.status === 201).length;
  assert.ok(versions.length >= 1 + acknowledgedPuts + 1, 'every acknowledged version is there');
  assert.ok(!node.logLines.join('\n').includes(planted), 'no value reached the log');
  const verify = await api('GET', '/v2/sys/audit/verify');
  assert.equal(verify.body.valid, true, JSON.stringify(verify.body));
}

const timeouts = { COFFER_STORAGE_WRITE_TIMEOUT_MS: '2000', COFFER_AUDIT_TIMEOUT_MS: '2000' };

const sqliteDisk = mountSmallDisk('24m');
after(() => {
  if (typeof sqliteDisk !== 'string') sqliteDisk.unmount();
});
test(
  'SQLite: a full disk fails requests closed (503, nothing answered unaudited), health degrades, and all recovers with a valid chain',
  { skip: typeof sqliteDisk === 'string' ? sqliteDisk : false },
  async () => {
    const { dir, unmount } = sqliteDisk as Exclude<typeof sqliteDisk, string>;
    const node = await startTestNode({ dataDir: join(dir, 'data'), env: timeouts });
    try {
      await fullDiskScenario(node, dir, { readsMayFailOnStorage: false });
    } finally {
      await node.destroy().catch(() => undefined);
      unmount();
    }
  },
);

/**
 * A private PostgreSQL cluster whose data directory is on a small tmpfs, with 1 MB WAL segments so
 * the WAL fits.
 */
function privatePostgres(): { dir: string; bin: string; unmount(): void } | string {
  if (postgresBinaries() === undefined) {
    const reason = 'no PostgreSQL server binaries under /usr/lib/postgresql';
    if (process.env.CI === 'true') throw new Error(reason);
    return reason;
  }
  const disk = mountSmallDisk('96m');
  if (typeof disk === 'string') return disk;
  try {
    return { dir: disk.dir, bin: initPrivatePostgres(disk.dir, ['--wal-segsize=1']), unmount: disk.unmount };
  } catch (err) {
    disk.unmount();
    if (err instanceof PrivatePostgresUnavailable) return err.message;
    throw err;
  }
}

const pgDisk = privatePostgres();
after(() => {
  if (typeof pgDisk !== 'string') pgDisk.unmount();
});
test(
  'PostgreSQL: a full disk under the database fails requests closed, health degrades, and all recovers with a valid chain',
  { skip: typeof pgDisk === 'string' ? pgDisk : false },
  async () => {
    const { dir, bin, unmount } = pgDisk as Exclude<typeof pgDisk, string>;
    const server = await privatePostgresServer(
      dir,
      bin,
      '-c shared_buffers=8MB -c min_wal_size=4MB -c max_wal_size=16MB',
    );
    server.start();
    const seedDir = mkdtempSync(join(tmpdir(), 'coffer-full-pg-'));
    let node: TestNode | undefined;
    try {
      node = await startTestNode({
        dataDir: seedDir,
        env: { ...timeouts, COFFER_DATABASE_URL: server.url },
      });
      await fullDiskScenario(node, dir, {
        readsMayFailOnStorage: true,
        afterSpaceIsBack: async () => {
          // A PANIC (the WAL could not grow) stops the server for good: the operator starts it again.
          try {
            server.pgCtl('status');
          } catch {
            server.start();
          }
        },
      });
    } finally {
      await node?.destroy().catch(() => undefined);
      rmSync(seedDir, { recursive: true, force: true });
      server.stop('immediate');
      unmount();
    }
  },
);
