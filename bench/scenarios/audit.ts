import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RunRecord, Target } from '../lib/measure.ts';
import { median } from '../lib/stats.ts';
import { fmt, markdownTable } from '../lib/table.ts';
import type { PreparedScenario, Scenario, ScenarioContext } from './scenario.ts';
import { type SecretsFixture, secretsFixture, secretsRequests } from './secrets-setup.ts';

/**
 * Events seeded for the verification-speed part: 1,000,000 unless `COFFER_BENCH_AUDIT_VERIFY_EVENTS`
 * says otherwise (0 skips it, for quick on ÷ off runs while working on the write path).
 */
const verifyEvents = Number(process.env.COFFER_BENCH_AUDIT_VERIFY_EVENTS ?? 1_000_000);

/**
 * bench/tools/audit-verify.ts pinned to the server CPU: seeds `n` chained events into a fresh store
 * and times `verifyAuditChains` of the benchmarked checkout.
 */
function verifySpeed(
  ctx: ScenarioContext,
  n: number,
): { events: number; seedSeconds: number; verifySeconds: number; eventsPerSecond: number; result: unknown } {
  ctx.log(`  seeding ${fmt(n)} chained audit events, then verifyAuditChains`);
  const script = fileURLToPath(new URL('../tools/audit-verify.ts', import.meta.url));
  const out = execFileSync(
    'taskset',
    ['-c', String(ctx.serverCpu), process.execPath, script, ctx.repoDir, ctx.workDir, String(n)],
    { encoding: 'utf8', cwd: ctx.repoDir, timeout: 15 * 60_000 },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as ReturnType<typeof verifySpeed>;
}

/** Median over rounds of a per-round ratio of `a` to `b`. */
function roundRatio(
  records: readonly RunRecord[],
  a: string,
  b: string,
  c: number,
  ratio: (ra: RunRecord, rb: RunRecord) => number,
): number {
  const ratios: number[] = [];
  for (const ra of records.filter((r) => r.target === a && r.connections === c)) {
    const rb = records.find((r) => r.target === b && r.connections === c && r.round === ra.round);
    if (rb) ratios.push(ratio(ra, rb));
  }
  return median(ratios);
}

const byThroughput = (on: RunRecord, off: RunRecord) => on.wrk.requestsPerSecond / off.wrk.requestsPerSecond;
/** Off's server CPU per request over on's: what throughput would be if both had the core alone. */
const byCpu = (on: RunRecord, off: RunRecord) => off.cpuUsPerRequest / on.cpuUsPerRequest;

/**
 * getSecretValue with audit on vs the development-only audit-off mode (`COFFER_DEV_AUDIT_OFF=true`),
 * two servers of 1,000 KMS-bound secrets interleaved; then the audit verifier's speed over
 * 1,000,000 seeded events.
 */
export const auditScenario: Scenario = {
  name: 'audit',
  description:
    'getSecretValue with audit on vs COFFER_DEV_AUDIT_OFF; verifyAuditChains over 1,000,000 events',
  inDefaultRun: false,
  defaultConnections: [1, 16, 64],
  async prepare(ctx): Promise<PreparedScenario> {
    const start = (env?: Record<string, string>) =>
      secretsFixture({
        repoDir: ctx.repoDir,
        workDir: ctx.workDir,
        serverCpu: ctx.serverCpu,
        stored: 1000,
        real: 1000,
        log: ctx.log,
        ...(env ? { env } : {}),
      });
    const on = await start();
    let off: SecretsFixture;
    try {
      off = await start({ COFFER_DEV_AUDIT_OFF: 'true' });
    } catch (err) {
      await on.server.stop();
      throw err;
    }
    const target = (name: string, f: SecretsFixture): Target => ({
      name,
      baseUrl: f.server.baseUrl,
      pid: f.server.process.pid,
      request: secretsRequests(f).get,
    });
    const onName = 'get (audit on)';
    const offName = 'get (audit off)';
    const onTarget = target(onName, on);
    return {
      baselineRequest: {
        ...onTarget.request,
        path: '/',
        variants: (onTarget.request.variants ?? []).map((v) => ({ path: `/${v.path ?? ''}` })),
      },
      candidates: [onTarget, target(offName, off)],
      close: async () => {
        await on.server.stop();
        await off.server.stop();
      },
      async report(records) {
        const top = Math.max(...ctx.connections);
        const rows = ctx.connections.map((c) => {
          const ratio = roundRatio(records, onName, offName, c, byThroughput);
          return [
            String(c),
            fmt(ratio, 3),
            fmt(roundRatio(records, onName, offName, c, byCpu), 3),
            c === top ? '≥ 0.85' : '',
            c === top ? (ratio >= 0.85 ? 'met' : 'NOT MET') : '',
          ];
        });
        const v = verifyEvents > 0 ? verifySpeed(ctx, verifyEvents) : undefined;
        return [
          'getSecretValue audit on ÷ audit off (median over rounds of the per-round req/s ratio; by CPU: of',
          "the per-round ratio of off's server CPU µs per request to on's):",
          '',
          markdownTable(
            [
              { header: 'c', right: true },
              { header: 'on ÷ off', right: true },
              { header: 'by CPU', right: true },
              { header: 'goal' },
              { header: '' },
            ],
            rows,
          ),
          '',
          v === undefined
            ? 'audit verification: skipped (COFFER_BENCH_AUDIT_VERIFY_EVENTS=0)'
            : `audit verification: ${fmt(v.events)} events seeded in ${fmt(v.seedSeconds, 1)} s; verifyAuditChains ` +
              `${fmt(v.verifySeconds, 2)} s = ${fmt(v.eventsPerSecond)} events/s (goal ≥ 200,000: ` +
              `${v.eventsPerSecond >= 200_000 ? 'met' : 'NOT MET'}); result ${JSON.stringify(v.result)}`,
        ].join('\n');
      },
    };
  },
};
