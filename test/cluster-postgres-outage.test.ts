import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { type AckedWrite, assertRecovered, type Cluster, msUntil, startCluster } from './support/cluster.ts';
import { createTestDatabase, postgresSkipReason } from './support/postgres.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';

const skip = (await postgresSkipReason()) ?? false;

/**
 * Issue 16 part 3, "PostgreSQL restarted under load" (docs/cluster.md). Restarting the machine's
 * PostgreSQL would break the other tests running beside this one, so the three nodes reach it through
 * a TCP proxy that the test cuts (every connection dropped, new ones refused) and restores: to the
 * nodes this is a database restart. During the cut every failed call is `503 storage_unavailable`
 * (never a 500, never a hang) and health degrades; after it the same processes serve again, and
 * every write acknowledged before, during or after the outage reads back on every node.
 */
test(
  'three nodes on one PostgreSQL through an outage under load: 503 storage_unavailable during it, recovery without restarts, no acknowledged write lost',
  { skip, timeout: 120_000 },
  async (t) => {
    const database = await createTestDatabase();
    const url = new URL(database.url);
    const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    let cluster: Cluster | undefined;
    try {
      cluster = await startCluster(url.toString(), 3, { COFFER_STORAGE_WRITE_TIMEOUT_MS: '1500' });
      const c = cluster;
      const pids = c.nodes.map((node) => node.child.pid);
      const project = (await c.api(0, 'POST', '/v2/projects', { displayName: 'outage' })).body.id as string;
      const instance = (
        await c.api(1, 'POST', `/v2/projects/${project}/regions/local/instances`, { name: 'main' })
      ).body.id as string;
      const secrets = `/v2/projects/${project}/regions/local/instances/${instance}/secrets`;
      const paths = ['a', 'b', 'c'];
      for (const [i, path] of paths.entries())
        assert.equal((await c.api(i, 'POST', secrets, { path, value: 'v0' })).status, 201);

      const acked: AckedWrite[] = [];
      /** Every answer that was not a success, as "status code". */
      const refusals = new Map<string, number>();
      let running = true;
      let next = 0;
      const pick = () => next++ % c.nodes.length;
      const refused = (status: number, body: { error?: { code?: string } } | undefined) => {
        const key = `${status} ${body?.error?.code ?? ''}`;
        refusals.set(key, (refusals.get(key) ?? 0) + 1);
      };
      const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      const writer = async (path: string) => {
        for (let n = 1; running; n++) {
          const value = `${path}-${n}-${randomBytes(8).toString('hex')}`;
          const res = await c.api(pick(), 'PUT', `${secrets}/${path}/value`, { value });
          if (res.status === 201) acked.push({ secret: path, version: res.body.version, value });
          else {
            refused(res.status, res.body);
            await pause(50);
          }
        }
      };
      const reader = async () => {
        for (let n = 0; running; n++) {
          const res = await c.api(pick(), 'GET', `${secrets}/${paths[n % paths.length]}/value`);
          if (res.status !== 200) {
            refused(res.status, res.body);
            await pause(50);
          }
        }
      };
      const load = Promise.all([...paths.map(writer), reader()]);
      let ackedBefore = 0;
      let ackedDuring = 0;
      try {
        await msUntil(async () => acked.length >= 10, 20_000);
        ackedBefore = acked.length;
        await proxy.cut();
        // Health on every node says the storage is failing, while the process keeps answering.
        for (const [i] of c.nodes.entries()) {
          await msUntil(async () => {
            const health = await c.api(i, 'GET', '/v2/health');
            return (
              health.status === 200 &&
              health.body.status === 'degraded' &&
              health.body.storage.status === 'failing' &&
              health.body.cluster.nodes === null
            );
          }, 5000);
        }
        await pause(1000);
        ackedDuring = acked.length;
        await proxy.restore();
        // Every node writes again, without a restart.
        for (const [i] of c.nodes.entries()) {
          await msUntil(
            async () => (await c.api(i, 'PUT', `${secrets}/a/value`, { value: `probe-${i}` })).status === 201,
            15_000,
          );
        }
        await msUntil(async () => acked.length - ackedDuring >= 10, 20_000);
      } finally {
        running = false;
        await load;
      }
      await assertRecovered(c, { secrets, acked, ackedBefore, ackedDuring, refusals, pids, what: 'outage' });
      t.diagnostic(`outage: ${acked.length} acknowledged writes, refusals ${JSON.stringify([...refusals])}`);
    } finally {
      await cluster?.destroy();
      await proxy.close();
      await database.drop();
    }
  },
);
