import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RunRecord, Summary, Target } from '../lib/measure.ts';
import type { StageRule } from '../lib/profile-stages.ts';
import { median } from '../lib/stats.ts';
import { fmt, markdownTable } from '../lib/table.ts';
import type { RequestSpec } from '../lib/wrk.ts';
import { kmsStageRules, profileOperations } from './kms-profile.ts';
import type { PreparedScenario, Scenario, ScenarioContext } from './scenario.ts';
import { peakRss, type SecretsFixture, secretsFixture, secretsRequests } from './secrets-setup.ts';

/** Secrets the requests spread over: made through the API, KMS-bound, each with a value that decrypts. */
const realSecrets = 1000;
/** Paths per `secrets:batchGetValues` request (the API's maximum). */
const batchSize = 20;
const mb = (bytes: number) => `${fmt(bytes / 1024 / 1024)} MB`;

function targetOf(name: string, fixture: SecretsFixture, request: RequestSpec): Target {
  return { name, baseUrl: fixture.server.baseUrl, pid: fixture.server.process.pid, request };
}

/** The bare baseline gets the same GET with the same spread of paths (the Lua `request()` cost too). */
function baselineOf(get: RequestSpec): RequestSpec {
  return { ...get, path: '/', variants: (get.variants ?? []).map((v) => ({ path: `/${v.path ?? ''}` })) };
}

/**
 * The single-writer commit rate: bench/tools/fsync-writer.ts (node:sqlite, WAL, synchronous=FULL,
 * one INSERT per transaction) pinned to the server CPU, in the work dir (the disk Coffer's data is on).
 */
function singleWriterCommitsPerSecond(ctx: ScenarioContext, seconds: number): number {
  // The harness's own tool, next to this file (not in the benchmarked snapshot).
  const script = fileURLToPath(new URL('../tools/fsync-writer.ts', import.meta.url));
  const out = execFileSync(
    'taskset',
    ['-c', String(ctx.serverCpu), process.execPath, script, ctx.workDir, String(seconds)],
    { encoding: 'utf8' },
  );
  return (JSON.parse(out.trim().split('\n').pop()!) as { commitsPerSecond: number }).commitsPerSecond;
}

const find = (summaries: readonly Summary[], target: string, c: number) =>
  summaries.find((s) => s.target === target && s.connections === c);

/** Median over rounds of `a` req/s ÷ `b` req/s of the same round and concurrency. */
function roundRatio(records: readonly RunRecord[], a: string, b: string, c: number): number {
  const ratios: number[] = [];
  for (const ra of records.filter((r) => r.target === a && r.connections === c)) {
    const rb = records.find((r) => r.target === b && r.connections === c && r.round === ra.round);
    if (rb) ratios.push(ra.wrk.requestsPerSecond / rb.wrk.requestsPerSecond);
  }
  return median(ratios);
}

const verdict = (met: boolean) => (met ? 'met' : 'NOT MET');

function fixtureLine(label: string, f: SecretsFixture, pid: number): string {
  return (
    `${label}: ${fmt(f.stored)} secrets stored (${fmt(f.paths.length)} through the API in ${fmt(f.apiSeconds, 1)} s` +
    (f.fillSeconds > 0
      ? `, ${fmt(f.stored - f.paths.length)} filler rows into SQLite in ${fmt(f.fillSeconds, 1)} s, restart ${fmt(f.restartSeconds, 1)} s`
      : '') +
    `), database ${mb(f.dbBytes)}, server peak RSS (VmHWM) ${mb(peakRss(pid))}`
  );
}

/** Stages of a secrets request: the KMS ones, with the secrets service split off. */
export const secretsStageRules: readonly StageRule[] = [
  ...kmsStageRules.slice(0, 3),
  {
    stage: 'crypto',
    matches: (f) =>
      f.url.includes('/src/secrets/value-crypto') ||
      f.url.includes('/src/crypto/') ||
      f.url.includes('/src/kms/key-material-store') ||
      f.url.includes('/src/kms/kms-crypto-service'),
  },
  {
    stage: 'storage: secrets + KMS reads (query building, rows → objects)',
    matches: (f) =>
      f.url.includes('/src/secrets/') || f.url.includes('/src/kms/') || f.url.includes('/src/projects/'),
  },
  ...kmsStageRules.slice(5),
];

function startFixture(ctx: ScenarioContext, stored: number, env?: Record<string, string>) {
  return secretsFixture({
    repoDir: ctx.repoDir,
    workDir: ctx.workDir,
    serverCpu: ctx.serverCpu,
    stored,
    real: realSecrets,
    log: ctx.log,
    ...(env ? { env } : {}),
  });
}

/** `--profile` of getSecretValue and putSecretValue on a fresh 1,000-secret server each. */
function profileSecrets(ctx: ScenarioContext): Promise<string> {
  const setup = (op: 'get' | 'put') => async (nodeFlags: readonly string[]) => {
    const fixture = await secretsFixture({
      repoDir: ctx.repoDir,
      workDir: ctx.workDir,
      serverCpu: ctx.serverCpu,
      stored: realSecrets,
      real: realSecrets,
      log: ctx.log,
      nodeFlags,
    });
    return { server: fixture.server, request: secretsRequests(fixture, batchSize)[op] };
  };
  return profileOperations(
    ctx,
    [
      { operation: 'getSecretValue', setup: setup('get') },
      { operation: 'putSecretValue', setup: setup('put') },
    ],
    secretsStageRules,
  );
}

/**
 * The Secrets issue's item 9 at 10,000 stored secrets: getSecretValue, putSecretValue and
 * batchGetValues (20 paths) spread at random over 1,000 KMS-bound secrets, against the bare server.
 */
export const secretsScenario: Scenario = {
  name: 'secrets',
  description: 'getSecretValue / putSecretValue / batchGetValues(20), 10,000 KMS-bound secrets stored',
  inDefaultRun: false,
  defaultConnections: [1, 16, 64],
  targetRatio: 0.2,
  targetCandidate: 'getSecretValue',
  async prepare(ctx): Promise<PreparedScenario> {
    const fixture = await startFixture(ctx, 10_000);
    const requests = secretsRequests(fixture, batchSize);
    return {
      baselineRequest: baselineOf(requests.get),
      candidates: [
        targetOf('getSecretValue', fixture, requests.get),
        targetOf('putSecretValue', fixture, requests.put),
        targetOf(`batchGetValues(${batchSize})`, fixture, requests.batchGet),
      ],
      close: () => fixture.server.stop(),
      async report(_records, summaries) {
        const top = Math.max(...ctx.connections);
        const seconds = Math.max(3, ctx.durationSeconds);
        const single = singleWriterCommitsPerSecond(ctx, seconds);
        const get = find(summaries, 'getSecretValue', top);
        const bare = summaries.find((s) => s.target.startsWith('baseline') && s.connections === top);
        const put = find(summaries, 'putSecretValue', top);
        const batch = find(summaries, `batchGetValues(${batchSize})`, top);
        const rss = peakRss(fixture.server.process.pid);
        const rows: string[][] = [];
        if (get)
          rows.push([
            'getSecretValue ratio to bare node:http',
            `c=${top}`,
            fmt(get.ratio.median, 3),
            '≥ 0.20',
            verdict(get.ratio.median >= 0.2),
          ]);
        if (get && bare) {
          const p99 = get.p99Us / bare.p99Us;
          rows.push([
            `getSecretValue p99 ÷ bare p99 (${(get.p99Us / 1000).toFixed(2)} ÷ ${(bare.p99Us / 1000).toFixed(2)} ms)`,
            `c=${top}`,
            `${fmt(p99, 2)}×`,
            '≤ 5×',
            verdict(p99 <= 5),
          ]);
        }
        if (get && batch) {
          const factor = (batch.requestsPerSecond * batchSize) / get.requestsPerSecond;
          rows.push([
            `batchGetValues secrets/s ÷ getSecretValue secrets/s (${fmt(batch.requestsPerSecond * batchSize)} ÷ ${fmt(get.requestsPerSecond)})`,
            `c=${top}`,
            `${fmt(factor, 2)}×`,
            '≥ 5×',
            verdict(factor >= 5),
          ]);
        }
        if (put) {
          const factor = put.requestsPerSecond / single;
          rows.push([
            `putSecretValue req/s ÷ single-writer commits/s (${fmt(put.requestsPerSecond)} ÷ ${fmt(single)})`,
            `c=${top}`,
            `${fmt(factor, 2)}×`,
            '≥ 2×',
            verdict(factor >= 2),
          ]);
        }
        rows.push(['server peak RSS (VmHWM)', '', mb(rss), '< 250 MB', verdict(rss < 250 * 1024 * 1024)]);
        return [
          fixtureLine('fixture', fixture, fixture.server.process.pid),
          `single writer (node:sqlite, WAL, synchronous=FULL, one INSERT per commit, ${seconds} s on the server CPU): ${fmt(single)} commits/s`,
          '',
          markdownTable(
            [
              { header: 'target' },
              { header: 'at' },
              { header: 'measured', right: true },
              { header: 'goal' },
              { header: '' },
            ],
            rows,
          ),
        ].join('\n');
      },
    };
  },
  profile: (ctx) => profileSecrets(ctx),
};

/**
 * The same reads and writes against 1,000,000 stored secrets, next to a 10,000-secret server in the
 * same run: both servers stay up (pinned to the server CPU, the idle one only runs its background
 * jobs) and are interleaved as candidates, so the 1M ÷ 10k ratio is per round.
 */
export const secrets1mScenario: Scenario = {
  name: 'secrets-1m',
  description: 'getSecretValue / putSecretValue at 1,000,000 stored secrets vs 10,000 (fill: API + SQLite)',
  inDefaultRun: false,
  defaultConnections: [1, 16, 64],
  async prepare(ctx): Promise<PreparedScenario> {
    const small = await startFixture(ctx, 10_000);
    let large: SecretsFixture;
    try {
      const t0 = performance.now();
      large = await startFixture(ctx, 1_000_000);
      ctx.log(`  1,000,000-secret fixture ready in ${fmt((performance.now() - t0) / 1000, 1)} s`);
    } catch (err) {
      await small.server.stop();
      throw err;
    }
    const a = secretsRequests(small, batchSize);
    const b = secretsRequests(large, batchSize);
    const names = { get10k: 'get @10k', get1m: 'get @1M', put10k: 'put @10k', put1m: 'put @1M' };
    return {
      baselineRequest: baselineOf(a.get),
      candidates: [
        targetOf(names.get10k, small, a.get),
        targetOf(names.get1m, large, b.get),
        targetOf(names.put10k, small, a.put),
        targetOf(names.put1m, large, b.put),
      ],
      close: async () => {
        await small.server.stop();
        await large.server.stop();
      },
      async report(records) {
        const rows: string[][] = [];
        for (const c of ctx.connections) {
          for (const [op, x, y] of [
            ['getSecretValue', names.get1m, names.get10k],
            ['putSecretValue', names.put1m, names.put10k],
          ] as const) {
            const ratio = roundRatio(records, x, y, c);
            rows.push([op, String(c), fmt(ratio, 3), '≥ 0.9', verdict(ratio >= 0.9)]);
          }
        }
        const rss = peakRss(large.server.process.pid);
        return [
          fixtureLine('10k fixture', small, small.server.process.pid),
          fixtureLine('1M fixture', large, large.server.process.pid),
          '',
          'throughput at 1,000,000 ÷ at 10,000 (median over rounds of the per-round ratio):',
          '',
          markdownTable(
            [
              { header: 'operation' },
              { header: 'c', right: true },
              { header: '1M ÷ 10k', right: true },
              { header: 'goal' },
              { header: '' },
            ],
            rows,
          ),
          '',
          `1M server peak RSS ${mb(rss)}: ${rss < 300 * 1024 * 1024 ? 'under' : 'NOT under'} 300 MB`,
        ].join('\n');
      },
    };
  },
};
