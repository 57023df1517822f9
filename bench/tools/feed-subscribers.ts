/**
 * Change-feed fan-out: starts `coffer server` pinned to one CPU, opens `subscribers` change streams
 * (`GET …/changes:stream`, one connection each), then makes `changes` changes one at a time and
 * records, for each, how long until the LAST stream received it, and the server's extra RSS with
 * the streams open. Prints one JSON line. Target (issue 13): every change reaches all 1,000
 * subscribers within 1 s, extra RSS ≤ 100 MB.
 * `node bench/tools/feed-subscribers.ts <coffer-dir> <work-dir> [subscribers=1000] [changes=50] [server-cpu=0]`
 */
import { readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { resolve } from 'node:path';
import { makeWorkDir, startCoffer } from '../lib/coffer-server.ts';

const [cofferDir = '.', workDirArg, subscribersArg = '1000', changesArg = '50', cpuArg = '0'] =
  process.argv.slice(2);
const subscribers = Number(subscribersArg);
const changes = Number(changesArg);
const workDir = workDirArg || makeWorkDir();

const server = await startCoffer({
  repoDir: resolve(cofferDir),
  workDir,
  serverCpu: Number(cpuArg),
  env: { COFFER_MAX_CONNECTIONS_PER_ADDRESS: String(subscribers + 100) },
});
const rssMb = () => {
  // The server is `taskset … node`: taskset execs node, so the pid is node's.
  const status = readFileSync(`/proc/${server.process.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
};
const sockets: http.ClientRequest[] = [];
try {
  const project = (await server.call<{ id: string }>('POST', '/v2/projects', { displayName: 'feed' }, 201))
    .id;
  const instance = (
    await server.call<{ id: string }>(
      'POST',
      `/v2/projects/${project}/regions/local/instances`,
      { name: 'feed' },
      201,
    )
  ).id;
  await new Promise((r) => setTimeout(r, 500));
  const rssBefore = rssMb();
  const { port } = new URL(server.baseUrl);
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const arrivals: number[][] = [];
  await Promise.all(
    Array.from(
      { length: subscribers },
      (_, i) =>
        new Promise<void>((done, fail) => {
          arrivals[i] = [];
          const req = http.get(
            {
              host: '127.0.0.1',
              port,
              agent,
              path: `/v2/projects/${project}/changes:stream?after=latest`,
              headers: { authorization: `Bearer ${server.token}` },
            },
            (res) => {
              if (res.statusCode !== 200) return fail(new Error(`stream answered ${res.statusCode}`));
              done();
              res.setEncoding('utf8');
              res.on('data', (chunk: string) => {
                for (
                  let at = chunk.indexOf('event: change');
                  at >= 0;
                  at = chunk.indexOf('event: change', at + 1)
                )
                  arrivals[i]!.push(performance.now());
              });
            },
          );
          req.on('error', fail);
          sockets.push(req);
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, 1000));
  const rssWithStreams = rssMb();
  const slowest: number[] = [];
  let missing = 0;
  for (let c = 0; c < changes; c++) {
    const started = performance.now();
    await server.call(
      'POST',
      `/v2/projects/${project}/regions/local/instances/${instance}/secrets`,
      { path: `s${c}` },
      201,
    );
    const deadline = started + 5000;
    while (arrivals.some((a) => a.length <= c) && performance.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    missing += arrivals.filter((a) => a.length <= c).length;
    slowest.push(Math.max(...arrivals.map((a) => (a[c] ?? Number.POSITIVE_INFINITY) - started)));
  }
  const sorted = [...slowest].sort((a, b) => a - b);
  const pick = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  console.log(
    JSON.stringify({
      subscribers,
      changes,
      missing,
      slowestDeliveryMs: {
        p50: Math.round(pick(0.5)),
        p99: Math.round(pick(0.99)),
        max: Math.round(sorted.at(-1)!),
      },
      rssMb: {
        before: Math.round(rssBefore),
        withStreams: Math.round(rssWithStreams),
        extra: Math.round(rssWithStreams - rssBefore),
      },
    }),
  );
} finally {
  for (const socket of sockets) socket.destroy();
  await server.stop();
  if (!workDirArg) rmSync(workDir, { recursive: true, force: true });
}
