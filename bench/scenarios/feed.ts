import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { startCoffer } from '../lib/coffer-server.ts';
import {
  connectInspector,
  type InspectorSession,
  inspectorUrlIn,
  sampleAllocations,
} from '../lib/inspector.ts';
import { sampleCpu } from '../lib/proc-cpu.ts';
import { track } from '../lib/server-process.ts';
import { percentile } from '../lib/stats.ts';
import { fmt, markdownTable } from '../lib/table.ts';
import { agentProject, freshValue, valueRoute } from './agent-setup.ts';
import type { Scenario, ScenarioContext } from './scenario.ts';

const subscribers = Number(process.env.COFFER_BENCH_FEED_SUBSCRIBERS ?? 1000);
const changes = Number(process.env.COFFER_BENCH_FEED_CHANGES ?? 100);
const giveUpMs = 10_000;

/** VmRSS of `pid` in bytes. */
function rss(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}
const verdict = (met: boolean) => (met ? 'met' : 'NOT MET');
const mb = (bytes: number) => `${fmt(bytes / 1024 / 1024, 1)} MB`;

interface LoadResult {
  readonly perChange: { version: number; latencies: number[]; missing: number }[];
}

/**
 * Issue 13's fan-out target: one server (pinned to the server CPU) holds 1,000 change streams
 * opened by bench/tools/feed-load.ts (pinned to the load CPU, node:http, one keep-alive connection
 * each, a service account's token); 100 puts, one at a time, must each reach every stream within
 * 1 s of the put's answer, and the server's RSS with the streams open may exceed its RSS without
 * them by at most 100 MB.
 */
export const feedScenario: Scenario = {
  name: 'feed',
  description:
    'change feed fan-out: 1,000 SSE subscribers on one server, change → every subscriber, extra RSS',
  inDefaultRun: false,
  async run(ctx: ScenarioContext): Promise<string> {
    const server = await startCoffer({
      repoDir: ctx.repoDir,
      workDir: ctx.workDir,
      serverCpu: ctx.serverCpu,
      // One load process, one principal: the per-address connection cap and the per-principal and
      // per-address stream caps (256, 16, 64 by default) would refuse it.
      env: {
        COFFER_MAX_CONNECTIONS_PER_ADDRESS: String(subscribers + 100),
        COFFER_CHANGE_STREAMS_PER_PRINCIPAL: String(subscribers + 100),
        COFFER_CHANGE_STREAMS_PER_ADDRESS: String(subscribers + 100),
      },
      // The inspector forces full GCs (live memory); extra flags, e.g. `--cpu-prof
      // --cpu-prof-dir=/tmp/feed-prof`, show where the fan-out's time goes.
      nodeFlags: ['--inspect=127.0.0.1:0', ...(process.env.COFFER_BENCH_FEED_NODE_FLAGS?.split(' ') ?? [])],
    });
    let inspector: InspectorSession | undefined;
    try {
      const inspectorUrl = inspectorUrlIn(server.process.logTail(50));
      if (!inspectorUrl) throw new Error(`no inspector URL in the server log:\n${server.process.logTail()}`);
      inspector = await connectInspector(inspectorUrl);
      const session = inspector;
      /** A full GC, then the RSS and the V8 heap in use. */
      const live = async () => {
        await session.send('HeapProfiler.collectGarbage');
        await delay(500);
        const heap = (await session.send('Runtime.getHeapUsage')) as { usedSize: number };
        return { rss: rss(server.process.pid), heap: heap.usedSize };
      };
      const path = 'feed/s';
      const project = await agentProject(server, [path]);
      const putPath = valueRoute(project, path);
      const pid = server.process.pid;
      /** Peak RSS while `work` runs (sampled every 100 ms). */
      /** Peak RSS, and peak V8 heap (committed and in use) while `work` runs, sampled every 100 ms. */
      const heapPeaks = { none: { total: 0, used: 0 }, open: { total: 0, used: 0 } };
      const peakDuring = async <T>(
        work: () => Promise<T>,
        heapPeak: { total: number; used: number },
      ): Promise<[T, number]> => {
        let peak = rss(pid);
        const sampler = setInterval(() => {
          peak = Math.max(peak, rss(pid));
          void session.send('Runtime.getHeapUsage').then(
            (usage) => {
              const { usedSize, totalSize } = usage as { usedSize: number; totalSize: number };
              heapPeak.total = Math.max(heapPeak.total, totalSize);
              heapPeak.used = Math.max(heapPeak.used, usedSize);
            },
            () => undefined,
          );
        }, 100);
        try {
          const value = await work();
          return [value, Math.max(peak, rss(pid))];
        } finally {
          clearInterval(sampler);
        }
      };
      // The same puts with no subscriber first, twice (the first warms up): the server without
      // streams, from a collected heap, with the same paced changes.
      const putsAlone = async () => {
        for (let i = 0; i < changes; i++) {
          await server.call('PUT', putPath, { value: freshValue() }, 201);
          await delay(100 + Math.random() * 100);
        }
      };
      await putsAlone();
      const liveNone = await live();
      const [, peakNone] = await peakDuring(putsAlone, heapPeaks.none);
      const tool = fileURLToPath(new URL('../tools/feed-load.ts', import.meta.url));
      const args = {
        baseUrl: server.baseUrl,
        streamPath: `/v2/projects/${project.projectId}/changes:stream?after=latest`,
        streamToken: project.accountToken,
        putPath,
        putToken: server.token,
        subscribers,
        changes,
        giveUpMs,
      };
      const child = spawn(
        'taskset',
        ['-c', String(ctx.loadCpu), process.execPath, tool, JSON.stringify(args)],
        {
          stdio: ['pipe', 'pipe', 'inherit'],
        },
      );
      track(child);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const out = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      const nextLine = async <T>(): Promise<T> => {
        const line = await out.next();
        if (line.done) throw new Error(`the load process ended early (exit ${String(await exited)})`);
        return JSON.parse(line.value) as T;
      };
      try {
        const opened = await nextLine<{ opened: number; openMs: number }>();
        ctx.log(`  ${opened.opened} streams open in ${fmt(opened.openMs / 1000, 1)} s`);
        await delay(3000);
        const liveOpen = await live();
        const cpuBefore = sampleCpu(pid, ctx.ticksPerSecond);
        child.stdin.write('go\n');
        // COFFER_BENCH_FEED_ALLOCATIONS=<file>: the changes' sampled allocations, for DevTools.
        const allocationsFile = process.env.COFFER_BENCH_FEED_ALLOCATIONS;
        const [result, peakOpen] = await peakDuring(async () => {
          if (!allocationsFile) return nextLine<LoadResult>();
          const sampled = await sampleAllocations(session, () => nextLine<LoadResult>());
          writeFileSync(allocationsFile, JSON.stringify({ head: sampled.head }));
          return sampled.result;
        }, heapPeaks.open);
        const cpuAfter = sampleCpu(pid, ctx.ticksPerSecond);
        const liveAfter = await live();
        child.stdin.end('end\n');
        await exited;
        const all = result.perChange.flatMap((c) => c.latencies);
        const slowest = result.perChange.map((c) => Math.max(...c.latencies));
        const missing = result.perChange.reduce((sum, c) => sum + c.missing, 0);
        const delivered = all.length;
        const extra = peakOpen - peakNone;
        const extraLive = Math.max(liveOpen.rss, liveAfter.rss) - liveNone.rss;
        const deliveryMet = percentile(all, 0.99) <= 1000 && Math.max(...all) <= 1000 && missing === 0;
        const q = (values: number[], p: number) => fmt(percentile(values, p), 1);
        return [
          `server on CPU ${ctx.serverCpu} (maxConnectionsPerAddress, changeStreamsPerPrincipal and changeStreamsPerAddress ${subscribers + 100}, rate limits raised), ` +
            `load process on CPU ${ctx.loadCpu}; ${changes} puts one at a time, 100–200 ms apart; ` +
            `latency = arrival of the version.added event at a stream − the put's answer, in the load process`,
          '',
          markdownTable(
            [
              { header: 'what' },
              { header: 'n', right: true },
              { header: 'p50 ms', right: true },
              { header: 'p95 ms', right: true },
              { header: 'p99 ms', right: true },
              { header: 'max ms', right: true },
            ],
            [
              [
                'change → each subscriber',
                String(delivered),
                q(all, 0.5),
                q(all, 0.95),
                q(all, 0.99),
                q(all, 1),
              ],
              [
                'change → its last subscriber',
                String(slowest.length),
                q(slowest, 0.5),
                q(slowest, 0.95),
                q(slowest, 0.99),
                q(slowest, 1),
              ],
            ],
          ),
          '',
          `missed deliveries: ${missing} of ${subscribers * changes}; every change to all ${subscribers} within 1 s: ` +
            verdict(deliveryMet),
          `server CPU during the ${changes} changes: ${fmt((cpuAfter.cpuUs - cpuBefore.cpuUs) / 1000)} ms ` +
            `(${fmt((cpuAfter.cpuUs - cpuBefore.cpuUs) / Math.max(1, delivered), 1)} µs per delivered event, idle streams included)`,
          `server RSS, peak while ${changes} paced changes are made (sampled every 100 ms, each run from a ` +
            `collected heap): ${mb(peakNone)} with no stream, ${mb(peakOpen)} with ${subscribers} open: extra ` +
            `${mb(extra)} (goal ≤ 100 MB): ${verdict(extra <= 100 * 1024 * 1024)}`,
          `peak V8 heap meanwhile (committed / in use): ${mb(heapPeaks.none.total)} / ${mb(heapPeaks.none.used)} ` +
            `with no stream, ${mb(heapPeaks.open.total)} / ${mb(heapPeaks.open.used)} with ${subscribers} open`,
          `server after a full GC (inspector): ${mb(liveNone.rss)} RSS / ${mb(liveNone.heap)} V8 heap with no stream; ` +
            `with ${subscribers} open ${mb(liveOpen.rss)} / ${mb(liveOpen.heap)} before the changes, ` +
            `${mb(liveAfter.rss)} / ${mb(liveAfter.heap)} after: extra ${mb(extraLive)} RSS ` +
            `(${verdict(extraLive <= 100 * 1024 * 1024)}), ` +
            `${fmt((Math.max(liveOpen.heap, liveAfter.heap) - liveNone.heap) / subscribers / 1024, 1)} KB of V8 heap per stream`,
        ].join('\n');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    } finally {
      inspector?.close();
      await server.stop();
    }
  },
};
