import {
  busyShare,
  cpuBetween,
  sampleCpu,
  sampleCpuTicks,
  sampleThreads,
  threadCpuBetween,
} from './proc-cpu.ts';
import { median, range } from './stats.ts';
import { errorCount, type RequestSpec, runWrk, type WrkResult } from './wrk.ts';

/** Something to load: a server process and the request to send it. */
export interface Target {
  /** Row label, e.g. `encrypt`. */
  readonly name: string;
  readonly baseUrl: string;
  /** Pid whose CPU is sampled from /proc. */
  readonly pid: number;
  readonly request: RequestSpec;
  /**
   * Started just before each of this target's wrk runs and stopped right after it (returns the stop
   * function): load that belongs to this target only, e.g. a metrics scraper polling every second.
   */
  readonly during?: () => () => void;
}

/** One measured wrk run. */
export interface RunRecord {
  readonly target: string;
  readonly round: number;
  readonly connections: number;
  readonly wrk: WrkResult;
  /** Server CPU (utime + stime, all threads) used during the run. */
  readonly cpuUs: number;
  readonly cpuUsPerRequest: number;
  /** Server CPU over wall time: 1.0 means its core was busy the whole run. */
  readonly coreShare: number;
  /** Server CPU per thread name (`MainThread`, the SQLite writer, `V8Worker`…), in microseconds. */
  readonly threadCpuUs: Readonly<Record<string, number>>;
  /**
   * How busy the server CPU and the load CPU were with anything (/proc/stat). Server CPU busy well
   * above `coreShare` means another process ran there; load CPU near 1.0 means wrk may be the limit.
   */
  readonly cpuBusy: { readonly server: number; readonly load: number };
}

/** How to measure. */
export interface MeasureOptions {
  readonly connections: readonly number[];
  readonly rounds: number;
  readonly durationSeconds: number;
  /** Unrecorded run per target before round 1 (JIT, caches, connection set-up); 0 skips it. */
  readonly warmupSeconds: number;
  readonly loadCpu: number;
  /** CPU the servers are pinned to. */
  readonly serverCpu: number;
  readonly workDir: string;
  readonly ticksPerSecond: number;
  readonly log: (line: string) => void;
}

/** One wrk run against `target` with the server's CPU sampled before and after. */
export async function measureOnce(
  target: Target,
  connections: number,
  durationSeconds: number,
  options: Pick<MeasureOptions, 'loadCpu' | 'workDir' | 'ticksPerSecond' | 'serverCpu'>,
  round = 0,
): Promise<RunRecord> {
  const serverTicks = sampleCpuTicks(options.serverCpu);
  const loadTicks = sampleCpuTicks(options.loadCpu);
  const threadsBefore = sampleThreads(target.pid, options.ticksPerSecond);
  const before = sampleCpu(target.pid, options.ticksPerSecond);
  const stopDuring = target.during?.();
  let wrk: Awaited<ReturnType<typeof runWrk>>;
  try {
    wrk = await runWrk({
      baseUrl: target.baseUrl,
      request: target.request,
      connections,
      durationSeconds,
      loadCpu: options.loadCpu,
      workDir: options.workDir,
    });
  } finally {
    stopDuring?.();
  }
  const after = sampleCpu(target.pid, options.ticksPerSecond);
  const threadCpuUs = threadCpuBetween(threadsBefore, sampleThreads(target.pid, options.ticksPerSecond));
  const { cpuUs, coreShare } = cpuBetween(before, after);
  const cpuBusy = {
    server: busyShare(serverTicks, sampleCpuTicks(options.serverCpu)),
    load: busyShare(loadTicks, sampleCpuTicks(options.loadCpu)),
  };
  return {
    target: target.name,
    round,
    connections,
    wrk,
    cpuUs,
    cpuUsPerRequest: wrk.requests > 0 ? cpuUs / wrk.requests : Number.NaN,
    coreShare,
    threadCpuUs,
    cpuBusy,
  };
}

function describe(record: RunRecord): string {
  const errors = errorCount(record.wrk);
  return (
    `${record.target.padEnd(16)} c=${String(record.connections).padEnd(3)} ` +
    `${record.wrk.requestsPerSecond.toFixed(0).padStart(6)} req/s  ` +
    `p50 ${(record.wrk.latencyUs.p50 / 1000).toFixed(2)} ms  p99 ${(record.wrk.latencyUs.p99 / 1000).toFixed(2)} ms  ` +
    `${record.cpuUsPerRequest.toFixed(1)} µs CPU/req  core ${(record.coreShare * 100).toFixed(0)}%  ` +
    `(CPUs busy: server ${(record.cpuBusy.server * 100).toFixed(0)}%, load ${(record.cpuBusy.load * 100).toFixed(0)}%)` +
    (errors > 0 ? `  ERRORS ${JSON.stringify(record.wrk.errors)}` : '')
  );
}

/**
 * Three-way interleaving: for each round, for each concurrency, the baseline then every candidate,
 * so slow drifts of a noisy machine hit all of them alike and each candidate has a baseline measured
 * seconds before it. A warm-up run per target precedes round 1 and is not recorded; a warm-up with
 * non-2xx answers stops the benchmark before the long part.
 */
export async function measureInterleaved(
  baseline: Target,
  candidates: readonly Target[],
  options: MeasureOptions,
): Promise<RunRecord[]> {
  const targets = [baseline, ...candidates];
  const topConnections = Math.max(...options.connections);
  if (options.warmupSeconds > 0) {
    for (const target of targets) {
      const warm = await measureOnce(target, topConnections, options.warmupSeconds, options);
      options.log(`  warm-up  ${describe(warm)}`);
      if (warm.wrk.errors.status > 0) {
        throw new Error(
          `${target.name} answered ${warm.wrk.errors.status} non-2xx responses during warm-up; see the server log.`,
        );
      }
    }
  }
  const records: RunRecord[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const connections of options.connections) {
      for (const target of targets) {
        const record = await measureOnce(target, connections, options.durationSeconds, options, round);
        options.log(`  round ${round}  ${describe(record)}`);
        records.push(record);
      }
    }
  }
  return records;
}

/** Medians over the rounds of one target at one concurrency, with ratios to the baseline. */
export interface Summary {
  readonly target: string;
  readonly connections: number;
  readonly rounds: number;
  readonly requestsPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly cpuUsPerRequest: number;
  readonly coreShare: number;
  /** Median over rounds of (target req/s ÷ baseline req/s of the same round and concurrency). */
  readonly ratio: { readonly median: number; readonly min: number; readonly max: number };
  /** Median over rounds of (baseline CPU µs/req ÷ target CPU µs/req): the CPU-bound ceiling. */
  readonly cpuRatio: number;
  /** Median over rounds of CPU µs per request of each thread name. */
  readonly threadUsPerRequest: Readonly<Record<string, number>>;
  /** Sum over rounds of wrk's "Non-2xx or 3xx" count: must be 0. */
  readonly non2xx: number;
  /** Sum over rounds of socket errors (connect, read, write, timeout). */
  readonly socketErrors: number;
}

/** Summarizes interleaved records per target and concurrency. */
export function summarize(records: readonly RunRecord[], baselineName: string): Summary[] {
  const baselineOf = new Map<string, RunRecord>();
  for (const record of records) {
    if (record.target === baselineName) baselineOf.set(`${record.round}/${record.connections}`, record);
  }
  const groups = new Map<string, RunRecord[]>();
  for (const record of records) {
    const key = `${record.target}\u0000${record.connections}`;
    const group = groups.get(key) ?? [];
    group.push(record);
    groups.set(key, group);
  }
  const summaries: Summary[] = [];
  for (const group of groups.values()) {
    const first = group[0]!;
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    for (const record of group) {
      const base = baselineOf.get(`${record.round}/${record.connections}`);
      if (!base) continue;
      ratios.push(record.wrk.requestsPerSecond / base.wrk.requestsPerSecond);
      cpuRatios.push(base.cpuUsPerRequest / record.cpuUsPerRequest);
    }
    const threadNames = new Set(group.flatMap((r) => Object.keys(r.threadCpuUs)));
    const threadUsPerRequest: Record<string, number> = {};
    for (const name of threadNames) {
      threadUsPerRequest[name] = median(group.map((r) => (r.threadCpuUs[name] ?? 0) / r.wrk.requests));
    }
    const spread = ratios.length > 0 ? range(ratios) : { min: Number.NaN, max: Number.NaN };
    summaries.push({
      target: first.target,
      connections: first.connections,
      rounds: group.length,
      requestsPerSecond: median(group.map((r) => r.wrk.requestsPerSecond)),
      p50Us: median(group.map((r) => r.wrk.latencyUs.p50)),
      p99Us: median(group.map((r) => r.wrk.latencyUs.p99)),
      cpuUsPerRequest: median(group.map((r) => r.cpuUsPerRequest)),
      coreShare: median(group.map((r) => r.coreShare)),
      ratio: { median: median(ratios), ...spread },
      cpuRatio: median(cpuRatios),
      threadUsPerRequest,
      non2xx: group.reduce((sum, r) => sum + r.wrk.errors.status, 0),
      socketErrors: group.reduce((sum, r) => sum + errorCount(r.wrk) - r.wrk.errors.status, 0),
    });
  }
  return summaries.sort((a, b) => a.connections - b.connections);
}
