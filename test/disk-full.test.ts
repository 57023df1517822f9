import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { call, startTestNode } from './support/test-node.ts';

/**
 * A real full disk: the data dir is a small tmpfs, filled with a filler file. Mounting needs root
 * (CI runs as root); elsewhere the test skips with a message, except under CI=true, where it fails.
 */
function mountSmallDisk(): { dir: string; unmount(): void } | string {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const reason = `cannot mount a small tmpfs (needs root): ${(err as Error).message.split('\n')[0]}`;
    if (process.env.CI === 'true') throw new Error(reason, { cause: err });
    return reason;
  }
  return {
    dir,
    unmount() {
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

const disk = mountSmallDisk();

test(
  'a full disk fails requests closed (503, nothing answered unaudited), health degrades, and all recovers with a valid chain',
  { skip: typeof disk === 'string' ? disk : false },
  async () => {
    const { dir, unmount } = disk as Exclude<typeof disk, string>;
    const dataDir = join(dir, 'data');
    const node = await startTestNode({
      dataDir,
      env: { COFFER_STORAGE_WRITE_TIMEOUT_MS: '2000', COFFER_AUDIT_TIMEOUT_MS: '2000' },
    });
    const token = node.adminToken!;
    const api = (method: string, path: string, body?: unknown) =>
      call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
    const planted = 'planted-disk-full-value';
    try {
      const project = (await api('POST', '/v2/projects', { displayName: 'full' })).body.id;
      const region = `/v2/projects/${project}/regions/local`;
      const instance = (await api('POST', `${region}/instances`, { name: 'i' })).body.id;
      const secret = `${region}/instances/${instance}/secrets/db`;
      assert.equal(
        (await api('POST', `${region}/instances/${instance}/secrets`, { path: 'db', value: planted })).status,
        201,
      );

      fill(join(dir, 'filler'));
      // Each answer the server gave while the disk was full, by request id.
      const answered: { requestId: string; status: number; kind: 'get' | 'put'; value?: string }[] = [];
      const big = 'x'.repeat(60_000);
      const failed: Record<string, string> = {};
      for (let i = 1; i <= 400 && Object.keys(failed).length === 0; i++) {
        const value = `${i}:${big}`;
        const put = await api('PUT', `${secret}/value`, { value });
        answered.push({
          requestId: put.headers.get('x-request-id')!,
          status: put.status,
          kind: 'put',
          value,
        });
        const get = await api('GET', `${secret}/value`);
        answered.push({ requestId: get.headers.get('x-request-id')!, status: get.status, kind: 'get' });
        for (const [kind, res] of [
          ['put', put],
          ['get', get],
        ] as const) {
          assert.ok(
            [200, 201, 503].includes(res.status),
            `status ${res.status}: ${JSON.stringify(res.body)}`,
          );
          if (res.status === 503) failed[kind] = res.body.error.code;
        }
      }
      assert.ok(Object.keys(failed).length > 0, 'the full disk made a write fail');
      // A change that cannot commit says so; a read whose audit event cannot commit is withheld.
      if (failed.put) assert.equal(failed.put, 'storage_unavailable');
      if (failed.get) assert.equal(failed.get, 'audit_unavailable');
      const health = await api('GET', '/v2/health');
      assert.equal(health.body.status, 'degraded', JSON.stringify(health.body));
      const whileFull = await api('GET', `${secret}/value`);
      assert.equal(whileFull.status, 503, 'a reveal whose audit cannot be written is withheld');
      assert.equal(whileFull.body.error.code, 'audit_unavailable');
      assert.equal(whileFull.body.value, undefined);
      answered.push({ requestId: whileFull.headers.get('x-request-id')!, status: 503, kind: 'get' });

      rmSync(join(dir, 'filler'));
      let recovered = 0;
      for (let attempt = 0; attempt < 50 && recovered !== 201; attempt++) {
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
    } finally {
      await node.destroy().catch(() => undefined);
      unmount();
    }
  },
);
