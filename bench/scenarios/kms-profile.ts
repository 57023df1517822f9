import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type CofferServer, startCoffer } from '../lib/coffer-server.ts';
import { connectInspector, inspectorUrlIn, sampleAllocations } from '../lib/inspector.ts';
import { measureOnce, type RunRecord, type Target } from '../lib/measure.ts';
import {
  cpuStages,
  heapStages,
  profileMentions,
  readCpuProfiles,
  type StageRule,
  type StageWeights,
} from '../lib/profile-stages.ts';
import { fmt, markdownTable } from '../lib/table.ts';
import type { RequestSpec } from '../lib/wrk.ts';
import { createBenchKey, kmsRequests } from './kms-setup.ts';
import type { ScenarioContext } from './scenario.ts';

const inSrc = (url: string, part: string) => url.includes(`/src/${part}`);

/**
 * Stages of a KMS crypto request, matched on the call stack. Tier 0 are Coffer's own steps; tier 1
 * catches Kysely and node:sqlite frames whose caller was lost across an `await` (V8 profiles show
 * only the synchronous stack): the SQLite point reads themselves land there, whoever asked for them.
 */
export const kmsStageRules: readonly StageRule[] = [
  {
    stage: 'authentication',
    matches: (f) =>
      inSrc(f.url, 'iam/token-') ||
      (inSrc(f.url, 'http/plugins/guard-plugin') && f.functionName === 'bearerOf') ||
      inSrc(f.url, 'crypto/token-format'),
  },
  {
    stage: 'authorization (+ rate limit, feature gate)',
    matches: (f) =>
      inSrc(f.url, 'iam/') ||
      (inSrc(f.url, 'projects/project-service') && /^require(Feature|KmsRegion)$/.test(f.functionName)) ||
      inSrc(f.url, 'http/plugins/guard-plugin'),
  },
  {
    stage: 'audit (main thread: event, insert statement, hand-off)',
    matches: (f) =>
      inSrc(f.url, 'audit/') ||
      inSrc(f.url, 'http/plugins/audit-plugin') ||
      inSrc(f.url, 'storage/sqlite/sqlite-writer'),
  },
  {
    stage: 'storage: KMS reads (query building, rows → objects)',
    matches: (f) =>
      inSrc(f.url, 'kms/kms-repo') || inSrc(f.url, 'kms/kms-service') || inSrc(f.url, 'projects/'),
  },
  {
    stage: 'crypto',
    matches: (f) =>
      inSrc(f.url, 'crypto/') ||
      inSrc(f.url, 'kms/key-material-store') ||
      inSrc(f.url, 'kms/kms-crypto-service'),
  },
  { stage: 'handler (base64, view)', matches: (f) => inSrc(f.url, 'http/routes/') },
  {
    stage: 'storage: Kysely execution + node:sqlite (all reads)',
    tier: 1,
    matches: (f) => f.url.includes('/node_modules/kysely/') || inSrc(f.url, 'storage/'),
  },
];

const frameworkStage = 'HTTP + framework (node:http, Fastify, pino child, JSON, validation)';

/** Moves every thread of `pid` except the main one to `cpu` (profile runs only, see below). */
function moveHelperThreads(pid: number, cpu: number): void {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (Number(tid) === pid) continue;
    try {
      execFileSync('taskset', ['-p', '-c', String(cpu), tid], { stdio: 'ignore' });
    } catch {
      // The thread ended meanwhile.
    }
  }
}

interface OperationProfile {
  readonly cpuRecord: RunRecord;
  readonly cpu: StageWeights;
  readonly heapRecord: RunRecord;
  readonly heap: StageWeights;
  readonly windowFound: boolean;
}

/**
 * Profiles one operation on a fresh server started with `--cpu-prof` and `--inspect`: a warm-up,
 * one run whose CPU profile is kept, then one run under the sampling heap profiler.
 *
 * V8 samples wall time: with every thread on one core, the main thread's samples would also count
 * the time the SQLite writer thread preempts it (it shows up as `postMessage`, the call that wakes
 * the writer). For these diagnostic runs only, the other threads are moved to the load CPU, so the
 * main thread's busy samples match its CPU time; their CPU is read per thread from /proc.
 */
async function profileOperation(
  ctx: ScenarioContext,
  operation: string,
  connections: number,
  server: CofferServer,
  profileDir: string,
  request: RequestSpec,
  rules: readonly StageRule[],
): Promise<OperationProfile> {
  let cpuRecord: RunRecord;
  let heapRecord: RunRecord;
  let window: { fromUs: number; toUs: number };
  let heapHead;
  try {
    const target: Target = {
      name: `${operation} (profiled)`,
      baseUrl: server.baseUrl,
      pid: server.process.pid,
      request,
    };
    if (ctx.warmupSeconds > 0) await measureOnce(target, connections, ctx.warmupSeconds, ctx);
    moveHelperThreads(server.process.pid, ctx.loadCpu);
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    cpuRecord = await measureOnce(target, connections, ctx.durationSeconds, ctx);
    window = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
    const inspectorUrl = inspectorUrlIn(server.process.logTail(50));
    if (!inspectorUrl) throw new Error(`no inspector URL in the server log:\n${server.process.logTail()}`);
    const session = await connectInspector(inspectorUrl);
    try {
      const sampled = await sampleAllocations(session, () =>
        measureOnce(target, connections, ctx.durationSeconds, ctx),
      );
      heapRecord = sampled.result;
      heapHead = sampled.head;
    } finally {
      session.close();
    }
  } finally {
    // The CPU profiles are written when the server exits.
    await server.stop();
  }
  const profiles = readCpuProfiles(profileDir);
  rmSync(profileDir, { recursive: true, force: true });
  const main = profiles.find(({ profile }) => profileMentions(profile, '/src/http/'));
  if (!main) throw new Error(`no main-thread CPU profile among ${profiles.map((p) => p.file).join(', ')}`);
  const windowFound = main.profile.startTime <= window.toUs && main.profile.endTime >= window.fromUs;
  return {
    cpuRecord,
    cpu: cpuStages(main.profile, rules, frameworkStage, windowFound ? window : undefined),
    heapRecord,
    heap: heapStages(heapHead, rules, frameworkStage),
    windowFound,
  };
}

/** A server to profile, started with the node flags given, and the request to profile on it. */
export type ProfiledSetup = (
  nodeFlags: readonly string[],
) => Promise<{ readonly server: CofferServer; readonly request: RequestSpec }>;

/** `--profile`: CPU µs and allocated KB per request per stage, for encrypt and decrypt. */
export function profileKms(ctx: ScenarioContext): Promise<string> {
  const setup =
    (operation: 'encrypt' | 'decrypt'): ProfiledSetup =>
    async (nodeFlags) => {
      const server = await startCoffer({
        repoDir: ctx.repoDir,
        workDir: ctx.workDir,
        serverCpu: ctx.serverCpu,
        nodeFlags,
      });
      try {
        return { server, request: kmsRequests(server, await createBenchKey(server))[operation] };
      } catch (err) {
        await server.stop();
        throw err;
      }
    };
  return profileOperations(
    ctx,
    [
      { operation: 'encrypt', setup: setup('encrypt') },
      { operation: 'decrypt', setup: setup('decrypt') },
    ],
    kmsStageRules,
  );
}

/**
 * CPU µs and allocated KB per request per stage of each operation, each on its own server started by
 * its `setup` with `--cpu-prof` and `--inspect`, at the highest concurrency.
 */
export async function profileOperations(
  ctx: ScenarioContext,
  operations: readonly { readonly operation: string; readonly setup: ProfiledSetup }[],
  rules: readonly StageRule[],
): Promise<string> {
  const connections = Math.max(...ctx.connections);
  const out: string[] = [];
  for (const { operation, setup } of operations) {
    ctx.log(
      `  profiling ${operation} at c=${connections} (node --cpu-prof, then the sampling heap profiler)`,
    );
    const profileDir = mkdtempSync(join(ctx.workDir, `profile-`));
    const { server, request } = await setup([
      '--cpu-prof',
      `--cpu-prof-dir=${profileDir}`,
      '--inspect=127.0.0.1:0',
    ]);
    const p = await profileOperation(ctx, operation, connections, server, profileDir, request, rules);
    const requests = p.cpuRecord.wrk.requests;
    const mainCpu = p.cpuRecord.threadCpuUs.MainThread ?? 0;
    // Stage figures are shares of the main thread's busy samples times its CPU time from /proc, so
    // time the thread spent preempted (steal on a shared VM) does not inflate them.
    const scale = p.cpu.total > 0 ? mainCpu / p.cpu.total : 1;
    const us = (value: number) => fmt((value * scale) / requests, 1);
    const kb = (bytes: number | undefined) =>
      bytes === undefined ? '' : fmt(bytes / p.heapRecord.wrk.requests / 1024, 1);
    const rows: string[][] = [];
    for (const [stage, time] of [...p.cpu.stages.entries()].sort((a, b) => b[1] - a[1])) {
      if (stage === 'idle') continue;
      const top = (p.cpu.topFunctions.get(stage) ?? [])
        .slice(0, 3)
        .map(([fn, fnUs]) => `${fn} ${us(fnUs)}`)
        .join('; ');
      rows.push([
        `main: ${stage}`,
        us(time),
        `${fmt((time / p.cpu.total) * 100, 0)} %`,
        kb(p.heap.stages.get(stage)),
        top,
      ]);
    }
    for (const [name, time] of Object.entries(p.cpuRecord.threadCpuUs).sort((a, b) => b[1] - a[1])) {
      if (name === 'MainThread' || time === 0) continue;
      const what = name.startsWith('coffer-sqlite')
        ? 'audit: SQLite writer thread (insert, group commit, fsync)'
        : name === 'V8Worker'
          ? 'V8Worker threads (concurrent/parallel GC, JIT)'
          : `thread ${name}`;
      rows.push([what, fmt(time / requests, 1), '', '', 'CPU from /proc/<pid>/task/<tid>/stat']);
    }
    const busy = p.cpu.total / requests;
    const preempted = mainCpu > 0 && busy > 1.15 * (mainCpu / requests);
    out.push(
      `### ${operation}, c=${connections}, profiled`,
      '',
      `${fmt(p.cpuRecord.wrk.requestsPerSecond)} req/s with the helper threads moved off the server CPU; ` +
        `${fmt(p.cpuRecord.cpuUs / requests, 1)} µs CPU/req in all threads; main thread ` +
        `${fmt(mainCpu / requests, 1)} µs CPU/req by /proc (${fmt(busy, 1)} µs/req busy in its CPU profile` +
        `${preempted ? ': it was preempted, noisy machine' : ''}); ` +
        `${kb(p.heap.total)} KB allocated per request on the main thread (sampling heap profiler, separate run).`,
      '',
      markdownTable(
        [
          { header: 'stage' },
          { header: 'CPU µs/req', right: true },
          { header: 'share', right: true },
          { header: 'KB alloc/req', right: true },
          { header: 'top self time (µs/req)' },
        ],
        rows,
      ),
      '',
      ...(p.windowFound
        ? []
        : ['(profile clock did not match: the whole profile was used, start-up included)', '']),
    );
  }
  return out.join('\n');
}
