import { readdirSync, readFileSync } from 'node:fs';

/** CPU time a process (all its threads) has used, from /proc/<pid>/stat. */
export interface CpuSample {
  /** utime + stime in microseconds. */
  readonly cpuUs: number;
  /** utime alone, in microseconds. */
  readonly userUs: number;
  /** stime alone, in microseconds. */
  readonly systemUs: number;
  /** When the sample was taken (monotonic, microseconds). */
  readonly atUs: number;
}

/**
 * Reads utime and stime of `pid`. They count every thread of the process (for Coffer: the main
 * thread, the SQLite writer thread, libuv's pool and V8's helpers), in clock ticks (1/CLK_TCK s,
 * usually 10 ms: over a 5-second run that is a resolution of about 0.2 %).
 */
export function sampleCpu(pid: number, ticksPerSecond: number): CpuSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5) are utime and stime; fields[0] here is field 3 (state).
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const usPerTick = 1_000_000 / ticksPerSecond;
  return {
    cpuUs: (utime + stime) * usPerTick,
    userUs: utime * usPerTick,
    systemUs: stime * usPerTick,
    atUs: Number(process.hrtime.bigint() / 1000n),
  };
}

/** CPU used between two samples and the share of one core it represents. */
export function cpuBetween(before: CpuSample, after: CpuSample): { cpuUs: number; coreShare: number } {
  const cpuUs = after.cpuUs - before.cpuUs;
  const wallUs = after.atUs - before.atUs;
  return { cpuUs, coreShare: wallUs > 0 ? cpuUs / wallUs : 0 };
}

/** CPU time of each thread of a process: thread id → name (`comm`) and utime + stime in microseconds. */
export type ThreadSample = ReadonlyMap<number, { readonly name: string; readonly cpuUs: number }>;

/**
 * Reads /proc/<pid>/task/<tid>/stat for every thread. Node names its threads (`MainThread`,
 * `V8Worker`, `libuv-worker`, and a worker's `name`, e.g. Coffer's `coffer-sqlite-w[riter]`), so the
 * CPU of the HTTP thread and of the SQLite writer thread can be told apart.
 */
export function sampleThreads(pid: number, ticksPerSecond: number): ThreadSample {
  const usPerTick = 1_000_000 / ticksPerSecond;
  const threads = new Map<number, { name: string; cpuUs: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return threads;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      threads.set(Number(tid), { name, cpuUs: (Number(fields[11]) + Number(fields[12])) * usPerTick });
    } catch {
      // The thread ended between readdir and read.
    }
  }
  return threads;
}

/** CPU used per thread name between two samples (threads started in between count from zero). */
export function threadCpuBetween(before: ThreadSample, after: ThreadSample): Record<string, number> {
  const byName: Record<string, number> = {};
  for (const [tid, thread] of after) {
    const used = thread.cpuUs - (before.get(tid)?.cpuUs ?? 0);
    byName[thread.name] = (byName[thread.name] ?? 0) + used;
  }
  return byName;
}

/** Busy and total clock ticks of one CPU, from /proc/stat. */
export interface CpuTicks {
  readonly busy: number;
  readonly total: number;
}

/** Reads the `cpu<N>` line of /proc/stat: busy = everything but idle and iowait. */
export function sampleCpuTicks(cpu: number): CpuTicks {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((text) => text.startsWith(`cpu${cpu} `));
  if (!line) return { busy: 0, total: 0 };
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const total = values.slice(0, 8).reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

/** Share of `before`→`after` the CPU was busy (with anything: the server, wrk, other processes). */
export function busyShare(before: CpuTicks, after: CpuTicks): number {
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : 0;
}
