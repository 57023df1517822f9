/**
 * The audit write path alone, measured by thread: `AuditLog.append` of a reveal's two events
 * (`secrets.get_value` on one of 1,000 secrets, `kms.decrypt` on one key) from `concurrency`
 * concurrent callers, through the real storage (SQLite: the writer thread, group commit,
 * synchronous=FULL), after `prefill` events already stored. Prints one JSON line with the CPU µs per
 * event (and per request) of the main thread and of the SQLite writer thread, from
 * /proc/self/task/<tid>/stat. `shape` `batch20` appends a batchGetValues(20)'s 41 events per request
 * instead (1 + 2 per secret); `rate` is then in requests per second. With a `postgres://` URL of an
 * empty, throwaway database as the last argument, the events go to PostgreSQL instead of SQLite.
 *
 *   taskset -c 0 node bench/tools/audit-write.ts <coffer-dir> <work-dir> [events] [prefill] [concurrency] [rate] [shape] [database-url]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { clockTicksPerSecond } from '../lib/tools.ts';
import { sampleThreads, type ThreadSample } from '../lib/proc-cpu.ts';

const [
  cofferDir = '.',
  workDir = '.',
  count = '100000',
  prefillArg = '300000',
  concArg = '64',
  rateArg = '0',
  shapeArg = 'reveal',
  databaseUrl,
] = process.argv.slice(2);
/** `reveal`: a getSecretValue's 2 events; `batch20`: a batchGetValues(20)'s 41 (1 + 2 per secret). */
const shape = shapeArg === 'batch20' ? 'batch20' : 'reveal';
/** Requests per second the callers together aim at (0: as fast as they can), as a server's load would. */
const rate = Number(rateArg);
const events = Number(count);
const prefill = Number(prefillArg);
const concurrency = Number(concArg);
const load = async <T>(relative: string): Promise<T> =>
  (await import(pathToFileURL(join(cofferDir, relative)).href)) as T;

interface Storage {
  close: () => Promise<void>;
}
interface AuditLog {
  append: (events: readonly Record<string, unknown>[]) => Promise<void>;
  /** One record per request (since 0020-audit-records); older checkouts append events one by one. */
  appendRecord?: (events: readonly Record<string, unknown>[]) => Promise<void>;
  close: () => Promise<void>;
}
const { openStorage } = await load<{
  openStorage: (o: { dataDir: string; writeTimeoutMs: number; databaseUrl?: string }) => Promise<Storage>;
}>('src/storage/open-storage.ts');
const { AuditLog } = await load<{
  AuditLog: new (
    storage: Storage,
    logger: unknown,
    clock: { nowMs: () => number },
    timeoutMs: number,
    policy: { everyEvents: number; everyMs: number },
  ) => AuditLog;
}>('src/audit/audit-log.ts');
const { newTimeOrderedUuid } = await load<{ newTimeOrderedUuid: (ms?: number) => string }>('src/core/ids.ts');

const logger = { warn() {}, error() {}, info() {}, debug() {} };
const project = randomUUID();
const keyName = `projects/${project}/regions/local/keyrings/ring/keys/bench-key`;
function request(): Record<string, unknown>[] {
  const now = Date.now();
  const requestId = newTimeOrderedUuid(now);
  const common = {
    timeMs: now,
    requestId,
    projectId: project,
    result: 'ok',
    status: 200,
    sourceIp: '127.0.0.1',
    userAgent: 'wrk',
  };
  const instance = `projects/${project}/regions/local/instances/main`;
  const pair = () => reveal(now, common);
  if (shape === 'reveal') return pair();
  const events: Record<string, unknown>[] = [
    {
      ...common,
      id: newTimeOrderedUuid(now),
      action: 'secrets.batch_get_values',
      principal: 'user:admin@coffer.internal',
      resource: instance,
    },
  ];
  for (let i = 0; i < 20; i++) events.push(...pair());
  return events;
}

function reveal(now: number, common: Record<string, unknown>): Record<string, unknown>[] {
  const secret = `bench%2Fs-${String(Math.floor(Math.random() * 1000)).padStart(5, '0')}`;
  return [
    {
      ...common,
      id: newTimeOrderedUuid(now),
      action: 'secrets.get_value',
      principal: 'user:admin@coffer.internal',
      resource: `projects/${project}/regions/local/instances/main/secrets/${secret}`,
      details: { version: 1 },
    },
    {
      ...common,
      id: newTimeOrderedUuid(now),
      action: 'kms.decrypt',
      principal: 'serviceAccount:reader@coffer.internal',
      onBehalfOf: 'user:admin@coffer.internal',
      resource: keyName,
      details: { keyVersion: 1 },
    },
  ];
}

function cpuByName(sample: ThreadSample): Map<string, number> {
  const out = new Map<string, number>();
  for (const { name, cpuUs } of sample.values()) out.set(name, (out.get(name) ?? 0) + cpuUs);
  return out;
}

async function drive(audit: AuditLog, n: number): Promise<void> {
  let left = n;
  const pause = rate > 0 ? (concurrency * 1000) / rate : 0;
  const worker = async () => {
    while (left > 0) {
      const events = request();
      left -= events.length;
      const started = performance.now();
      await (audit.appendRecord ?? audit.append).call(audit, events);
      const wait = pause - (performance.now() - started);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const dir = mkdtempSync(join(workDir, 'audit-write-'));
try {
  const storage = await openStorage({
    dataDir: dir,
    writeTimeoutMs: 120_000,
    ...(databaseUrl ? { databaseUrl } : {}),
  });
  const audit = new AuditLog(storage, logger, { nowMs: () => Date.now() }, 120_000, {
    everyEvents: 1000,
    everyMs: 1000,
  });
  try {
    const t0 = performance.now();
    await drive(audit, prefill);
    const prefillSeconds = (performance.now() - t0) / 1000;
    const ticks = clockTicksPerSecond();
    const before = cpuByName(sampleThreads(process.pid, ticks));
    const t1 = performance.now();
    await drive(audit, events);
    const seconds = (performance.now() - t1) / 1000;
    const after = cpuByName(sampleThreads(process.pid, ticks));
    const perEvent: Record<string, number> = {};
    const perRequest: Record<string, number> = {};
    const perRequestEvents = shape === 'reveal' ? 2 : 41;
    for (const [name, us] of after) {
      const delta = us - (before.get(name) ?? 0);
      if (delta > 0) perEvent[name] = Math.round((delta / events) * 10) / 10;
      if (delta > 0) perRequest[name] = Math.round((delta / events) * perRequestEvents);
    }
    process.stdout.write(
      `${JSON.stringify({ shape, events, prefill, concurrency, rate, prefillSeconds, eventsPerSecond: Math.round(events / seconds), cpuUsPerEvent: perEvent, cpuUsPerRequest: perRequest })}\n`,
    );
  } finally {
    await audit.close();
    await storage.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
