import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createTestDatabase, postgresSkipReason } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const enc = encodeURIComponent;
const readers = 20;

/**
 * Node B serves `url` from `readers` concurrent loops while `change` runs on node A; returns how long
 * after the change B first refused, and any value B served to a request that started after that.
 */
async function underLoad(b: TestNode, token: string, url: string, change: () => Promise<void>) {
  const served: Array<{ start: number; end: number; ok: boolean }> = [];
  let stop = false;
  const loop = async () => {
    while (!stop) {
      const start = Date.now();
      const res = await call(b.url, 'GET', url, { token });
      served.push({ start, end: Date.now(), ok: res.status === 200 });
    }
  };
  const loops = Array.from({ length: readers }, loop);
  try {
    // Warm: B serves the value from its cache.
    const warm = Date.now();
    while (!served.some((r) => r.ok && r.start > warm + 100) && Date.now() - warm < 5000)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(
      served.some((r) => r.ok),
      'node B serves the value before the change',
    );
    const changed = Date.now();
    await change();
    const done = Date.now();
    let refusedAt: number | undefined;
    while (refusedAt === undefined && Date.now() - done < 2000) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      refusedAt = served.find((r) => !r.ok && r.start >= changed)?.end;
    }
    // Keep the load on a little longer: no request that starts after the refusal may be served.
    await new Promise((resolve) => setTimeout(resolve, 300));
    stop = true;
    await Promise.all(loops);
    const late = refusedAt === undefined ? [] : served.filter((r) => r.ok && r.start > refusedAt);
    return { afterMs: refusedAt === undefined ? Infinity : refusedAt - done, late: late.length, served };
  } finally {
    stop = true;
    await Promise.all(loops);
  }
}

describe('secrets metadata cache across nodes (PostgreSQL)', { skip: postgresSkip ?? false }, () => {
  test("a put on node B after one on node A is not refused by B's stale view; a version disabled or destroyed on A is refused by B, under 20 concurrent readers, within one second", async (t) => {
    const t0 = Date.now();
    const database = await createTestDatabase();
    const env = { COFFER_DATABASE_URL: database.url, COFFER_CHANGE_POLL_MS: '100' };
    const a = await startTestNode({ env }).catch(async (err) => {
      await database.drop();
      throw err;
    });
    const otherDir = mkdtempSync(join(tmpdir(), 'coffer-node-b-'));
    copyFileSync(join(a.dataDir, 'seal.key'), join(otherDir, 'seal.key'));
    const b = await startTestNode({ env, dataDir: otherDir }).catch(async (err) => {
      await a.destroy();
      await database.drop();
      throw err;
    });
    t.diagnostic(`two nodes started in ${Date.now() - t0} ms`);
    try {
      const admin = a.adminToken!;
      const api = (method: string, path: string, body?: unknown) =>
        call(a.url, method, path, { token: admin, ...(body !== undefined ? { body } : {}) });
      const project = (await api('POST', '/v2/projects', {})).body.id;
      const instance = await api('POST', `/v2/projects/${project}/regions/local/instances`, { name: 'i' });
      assert.equal(instance.status, 201, JSON.stringify(instance.body));
      const secretUrl = `/v2/projects/${project}/regions/local/instances/${instance.body.id}/secrets/${enc('x/y')}`;
      assert.equal(
        (
          await api('POST', `/v2/projects/${project}/regions/local/instances/${instance.body.id}/secrets`, {
            path: 'x/y',
            value: 'one',
          })
        ).status,
        201,
      );
      assert.equal((await api('PUT', `${secretUrl}/value`, { value: 'two' })).status, 201);

      // A put on node B right after one on node A: B's cached view of the secret is stale, yet the
      // put neither fails nor reuses a version, and a correct expectedLatestVersion is accepted.
      const onB = (method: string, path: string, body?: unknown) =>
        call(b.url, method, path, { token: admin, ...(body !== undefined ? { body } : {}) });
      await b.app.syncChanges();
      assert.equal((await onB('GET', `${secretUrl}/value`)).body.value, 'two');
      assert.equal((await onB('GET', `${secretUrl}/value`)).body.value, 'two');
      assert.equal((await api('PUT', `${secretUrl}/value`, { value: 'three' })).body.version, 3);
      const put = await onB('PUT', `${secretUrl}/value`, { value: 'four', expectedLatestVersion: 3 });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      assert.equal(put.body.version, 4);
      assert.equal((await onB('GET', `${secretUrl}/value`)).body.value, 'four', 'B reads its own write');

      const disabled = await underLoad(b, admin, `${secretUrl}/value?version=1`, async () => {
        assert.equal((await api('POST', `${secretUrl}/versions/1/disable`)).status, 200);
      });
      t.diagnostic(`disabled: refused after ${disabled.afterMs} ms, ${disabled.served.length} reads`);
      assert.ok(disabled.afterMs <= 1000, `node B refused a disabled version after ${disabled.afterMs} ms`);
      assert.equal(disabled.late, 0, 'node B never served the disabled version after refusing it');
      assert.ok(disabled.served.length > readers, `${disabled.served.length} reads under load`);

      const destroyed = await underLoad(b, admin, `${secretUrl}/value?version=2`, async () => {
        assert.equal((await api('POST', `${secretUrl}/versions/2/destroy`)).status, 200);
      });
      t.diagnostic(`destroyed: refused after ${destroyed.afterMs} ms, ${destroyed.served.length} reads`);
      assert.ok(
        destroyed.afterMs <= 1000,
        `node B refused a destroyed version after ${destroyed.afterMs} ms`,
      );
      assert.equal(destroyed.late, 0, 'node B never served the destroyed version after refusing it');
      const gone = await call(b.url, 'GET', `${secretUrl}/value?version=2`, { token: admin });
      assert.equal(gone.status, 400);
      t.diagnostic(`done at ${Date.now() - t0} ms`);
    } finally {
      await b.destroy();
      await a.destroy();
      await database.drop();
    }
  });
});
