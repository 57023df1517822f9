/**
 * Three (or more) real `coffer server` processes on one PostgreSQL database, each with its own data
 * dir holding a copy of the first node's seal key file, for the cluster tests (docs/cluster.md).
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerProcess, startServerProcess } from './cli-process.ts';
import { call } from './test-node.ts';

/** Rate limits out of the way: one client drives the whole cluster from one address. */
const limits = {
  COFFER_RATE_LIMIT_PER_PRINCIPAL: '100000',
  COFFER_RATE_LIMIT_PER_PRINCIPAL_BURST: '100000',
  COFFER_RATE_LIMIT_PER_ADDRESS: '100000',
  COFFER_RATE_LIMIT_PER_ADDRESS_BURST: '100000',
};

/** A running cluster; `nodes[i]` is replaced when node i is restarted. */
export interface Cluster {
  readonly nodes: ServerProcess[];
  /** The first admin token (written by node 0, which initialized). */
  readonly token: string;
  /** SIGKILLs node i and waits for its exit. */
  kill(i: number): Promise<void>;
  /** Starts node i again on its data dir (a new port). */
  restart(i: number): Promise<void>;
  /** Calls node i with the admin token. */
  api(i: number, method: string, path: string, body?: unknown): ReturnType<typeof call>;
  /** Stops every node still running (SIGTERM) and removes the data dirs. */
  destroy(): Promise<void>;
}

/** Starts `count` nodes on `databaseUrl`: node 0 first (it initializes), the others at once. */
export async function startCluster(
  databaseUrl: string,
  count: number,
  env: Record<string, string> = {},
): Promise<Cluster> {
  const dirs = Array.from({ length: count }, (_, i) => mkdtempSync(join(tmpdir(), `coffer-cluster-${i}-`)));
  const envOf = (i: number) => ({
    ...limits,
    COFFER_DATA_DIR: dirs[i]!,
    COFFER_DATABASE_URL: databaseUrl,
    ...env,
  });
  const nodes: ServerProcess[] = [];
  const destroy = async () => {
    await Promise.all(
      nodes.map(async (node) => {
        if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGTERM');
        await node.exited;
      }),
    );
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  try {
    nodes.push(await startServerProcess(envOf(0)));
    for (const dir of dirs.slice(1)) copyFileSync(join(dirs[0]!, 'seal.key'), join(dir, 'seal.key'));
    nodes.push(...(await Promise.all(dirs.slice(1).map((_, i) => startServerProcess(envOf(i + 1))))));
  } catch (err) {
    await destroy();
    throw err;
  }
  const token = readFileSync(join(dirs[0]!, 'root-token'), 'utf8').trim();
  return {
    nodes,
    token,
    async kill(i) {
      const node = nodes[i]!;
      node.child.kill('SIGKILL');
      assert.equal(await node.exited, 'SIGKILL');
    },
    async restart(i) {
      nodes[i] = await startServerProcess(envOf(i));
    },
    api: (i, method, path, body) =>
      call(nodes[i]!.url, method, path, { token, ...(body !== undefined ? { body } : {}) }),
    destroy,
  };
}

/** Polls `probe` every 50 ms until it returns true; returns the milliseconds it took. */
export async function msUntil(probe: () => Promise<boolean>, limitMs = 5000): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await probe()) return performance.now() - start;
    if (performance.now() - start > limitMs) throw new Error(`not true within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A write the server acknowledged (201) with this version. */
export interface AckedWrite {
  readonly secret: string;
  readonly version: number;
  readonly value: string;
}

/**
 * Asserts that every acknowledged write reads back, version by version and byte-equal, on every
 * node (`secrets` is the instance's secrets path); eight reads at a time per node.
 */
export async function assertReadsBack(
  cluster: Cluster,
  secrets: string,
  acked: readonly AckedWrite[],
): Promise<void> {
  await Promise.all(
    cluster.nodes.map(async (_, i) => {
      for (let start = 0; start < acked.length; start += 8) {
        await Promise.all(
          acked.slice(start, start + 8).map(async (write) => {
            const res = await cluster.api(
              i,
              'GET',
              `${secrets}/${write.secret}/value?version=${write.version}`,
            );
            assert.equal(res.status, 200, `node ${i}: ${write.secret} v${write.version}`);
            assert.equal(res.body.value, write.value, `node ${i}: ${write.secret} v${write.version}`);
          }),
        );
      }
    }),
  );
}

/** What a client loop saw across a storage outage (see `assertRecovered`). */
export interface OutageRun {
  /** The instance's secrets path. */
  readonly secrets: string;
  readonly acked: readonly AckedWrite[];
  /** Acknowledged writes before the outage began, and when it ended. */
  readonly ackedBefore: number;
  readonly ackedDuring: number;
  /** Refused calls by `"status code"`. */
  readonly refusals: ReadonlyMap<string, number>;
  /** The nodes' PIDs before the outage. */
  readonly pids: readonly (number | undefined)[];
  /** The outage's name in messages (`outage`, `restart`). */
  readonly what: string;
}

/**
 * Asserts that the nodes came through a storage outage: the same processes, writes acknowledged
 * before and after it, every refusal a 503 `storage_unavailable` or `audit_unavailable` (a read or
 * write whose storage is gone, or whose audit event cannot be made durable in that same database),
 * every acknowledged write read back on every node, health `ok` and the audit chains valid.
 */
export async function assertRecovered(cluster: Cluster, run: OutageRun): Promise<void> {
  const { acked, ackedBefore, ackedDuring, refusals, what } = run;
  assert.deepEqual(
    cluster.nodes.map((node) => node.child.pid),
    run.pids,
    'the same processes',
  );
  assert.ok(ackedBefore >= 10, `writes before the ${what} (${ackedBefore})`);
  assert.ok(acked.length - ackedDuring >= 10, `writes after the ${what} (${acked.length - ackedDuring})`);
  assert.ok((refusals.get('503 storage_unavailable') ?? 0) > 0, `the ${what} was seen by the clients`);
  for (const outcome of refusals.keys())
    assert.ok(
      ['503 storage_unavailable', '503 audit_unavailable'].includes(outcome),
      `every refusal: ${JSON.stringify([...refusals])}`,
    );
  await assertReadsBack(cluster, run.secrets, acked);
  for (const [i] of cluster.nodes.entries()) {
    assert.equal((await cluster.api(i, 'GET', '/v2/health')).body.status, 'ok', `node ${i}`);
    assert.equal((await cluster.api(i, 'GET', '/v2/sys/audit/verify')).body.valid, true, `node ${i}`);
  }
}

/** A webhook audit sink receiver (config `auditSinks` type `webhook`) that counts each event id. */
export interface SinkReceiver {
  readonly url: string;
  /** How many times each event id arrived. */
  readonly received: Map<string, number>;
  close(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1 answering 204 to every batch. */
export async function startSinkReceiver(): Promise<SinkReceiver> {
  const received = new Map<string, number>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      const batch = JSON.parse(body) as { events: Array<{ id: string }> };
      for (const event of batch.events) received.set(event.id, (received.get(event.id) ?? 0) + 1);
      res.writeHead(204).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}/ingest`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
