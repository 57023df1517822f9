/**
 * `npm run bench [-- options]`: HTTP benchmarks of Coffer against a bare node:http server, measured
 * in the same run with the same load. Method (docs/benchmarks.md): servers pinned to one CPU with
 * taskset, wrk pinned to another with a Lua script, interleaved rounds of baseline and candidates,
 * median ratios, and the server's CPU µs per request from /proc/<pid>/stat.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeWorkDir } from './lib/coffer-server.ts';
import { measureInterleaved, type RunRecord, type Summary, summarize, type Target } from './lib/measure.ts';
import { startBenchServer } from './lib/node-server.ts';
import { killAllStarted } from './lib/server-process.ts';
import { parseSeconds } from './lib/stats.ts';
import { fmt, markdownTable, ms } from './lib/table.ts';
import { BenchSetupError, clockTicksPerSecond, requireTools } from './lib/tools.ts';
import { scenarios } from './scenarios/index.ts';
import type { Scenario, ScenarioContext } from './scenarios/scenario.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const baselineScript = join(repoRoot, 'bench', 'baseline-server.ts');
const baselineName = 'baseline (bare node:http)';

const usage = `Usage: npm run bench -- [options]

  --only <names>         scenarios to run, comma-separated (default: ${scenarios
    .filter((s) => s.inDefaultRun)
    .map((s) => s.name)
    .join(',')}); --list shows all
  --duration <time>      length of each measured wrk run (default 5s)
  --warmup <time>        unrecorded run per target before round 1 (default 2s; 0 skips)
  --rounds <n>           interleaved rounds of baseline and candidates (default 3; 0 with
                         --profile: only the profile runs)
  --connections <list>   wrk concurrencies (default: the scenario's, 1,16,64 for kms)
  --profile              also profile the candidate (node --cpu-prof, heap sampling): CPU and
                         allocation per request per stage
  --ref <git-ref>        benchmark a snapshot of this commit (git archive) instead of the working tree
  --coffer-dir <dir>     benchmark the Coffer checkout in <dir> (needs node_modules)
  --server-cpu <n>       CPU the servers are pinned to (default 0)
  --load-cpu <n>         CPU wrk is pinned to (default 1)
  --json <file>          also write every run and summary as JSON
  --list                 list the scenarios and exit
  --help                 this text

Needs wrk and taskset (Debian: apt-get install -y wrk util-linux) and two CPUs.`;

interface Options {
  readonly only: readonly Scenario[];
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly rounds: number;
  readonly connections: readonly number[] | undefined;
  readonly profile: boolean;
  readonly ref: string | undefined;
  readonly cofferDir: string | undefined;
  readonly serverCpu: number;
  readonly loadCpu: number;
  readonly json: string | undefined;
}

class UsageError extends Error {}

function positiveInteger(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new UsageError(`${name} must be a whole number: "${text}"`);
  return value;
}

function parseOptions(argv: readonly string[]): Options | 'help' | 'list' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      only: { type: 'string' },
      duration: { type: 'string', default: '5s' },
      warmup: { type: 'string', default: '2s' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string' },
      profile: { type: 'boolean', default: false },
      ref: { type: 'string' },
      'coffer-dir': { type: 'string' },
      'server-cpu': { type: 'string', default: '0' },
      'load-cpu': { type: 'string', default: '1' },
      json: { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  if (values.list) return 'list';
  const names = values.only?.split(',').map((name) => name.trim()) ?? [];
  const only =
    names.length > 0
      ? names.map((name) => {
          const found = scenarios.find((scenario) => scenario.name === name);
          if (!found) throw new UsageError(`no scenario "${name}" (--list shows them)`);
          return found;
        })
      : scenarios.filter((scenario) => scenario.inDefaultRun);
  const connections = values.connections
    ?.split(',')
    .map((text) => positiveInteger(text.trim(), '--connections'))
    .filter((value) => value > 0);
  if (values.ref !== undefined && values['coffer-dir'] !== undefined) {
    throw new UsageError('give --ref or --coffer-dir, not both');
  }
  const warmup = values.warmup.trim();
  const rounds = positiveInteger(values.rounds, '--rounds');
  if (rounds === 0 && !values.profile)
    throw new UsageError('--rounds 0 (no measured rounds) only makes sense with --profile');
  return {
    only,
    durationSeconds: parseSeconds(values.duration),
    warmupSeconds: warmup === '0' || warmup === '0s' ? 0 : parseSeconds(warmup),
    rounds,
    connections: connections && connections.length > 0 ? connections : undefined,
    profile: values.profile,
    ref: values.ref,
    cofferDir: values['coffer-dir'],
    serverCpu: positiveInteger(values['server-cpu'], '--server-cpu'),
    loadCpu: positiveInteger(values['load-cpu'], '--load-cpu'),
    json: values.json,
  };
}

function git(args: readonly string[]): string {
  try {
    return execFileSync('git', [...args], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** Exports `ref` into `workDir/coffer-<ref>` and links the checkout's node_modules into it. */
function snapshot(ref: string, workDir: string): string {
  const dir = join(workDir, 'coffer-snapshot');
  mkdirSync(dir);
  execFileSync('sh', ['-c', `git archive --format=tar "$0" | tar -x -C "$1"`, ref, dir], { cwd: repoRoot });
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** What was measured, on what. */
function describeRun(options: Options, cofferDir: string): Record<string, string> {
  const commit = options.ref
    ? `${git(['rev-parse', '--short', options.ref])} (snapshot of ${options.ref})`
    : options.cofferDir
      ? `checkout ${cofferDir}`
      : `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', '--', 'src', 'bin']) ? ' + uncommitted changes in src/' : ''}`;
  let wrk: string;
  try {
    wrk = execFileSync('wrk', ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
  } catch (err) {
    // wrk --version exits 1 after printing.
    wrk = String((err as { stdout?: string }).stdout ?? '').split('\n')[0] ?? '';
  }
  return {
    coffer: commit,
    node: process.version,
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    wrk: wrk.replace(/\s+Copyright.*$/, ''),
    method: `server on CPU ${options.serverCpu}, wrk -t1 on CPU ${options.loadCpu}, ${options.rounds} interleaved rounds of ${options.durationSeconds}s (warm-up ${options.warmupSeconds}s)`,
  };
}

function summaryTable(summaries: readonly Summary[]): string {
  const rows = summaries.map((s) => {
    const isBaseline = s.target === baselineName;
    return [
      s.target,
      String(s.connections),
      fmt(s.requestsPerSecond),
      ms(s.p50Us),
      ms(s.p99Us),
      fmt(s.cpuUsPerRequest, 1),
      `${fmt(s.coreShare * 100)} %`,
      isBaseline ? '1' : fmt(s.ratio.median, 3),
      isBaseline ? '' : `${fmt(s.ratio.min, 3)}–${fmt(s.ratio.max, 3)}`,
      isBaseline ? '1' : fmt(s.cpuRatio, 3),
      String(s.non2xx + s.socketErrors),
    ];
  });
  return markdownTable(
    [
      { header: 'target' },
      { header: 'c', right: true },
      { header: 'req/s', right: true },
      { header: 'p50 ms', right: true },
      { header: 'p99 ms', right: true },
      { header: 'CPU µs/req', right: true },
      { header: 'server core', right: true },
      { header: 'ratio', right: true },
      { header: 'ratio range', right: true },
      { header: 'CPU ratio', right: true },
      { header: 'errors', right: true },
    ],
    rows,
  );
}

/** CPU µs per request of each server thread: where the CPU goes between HTTP thread and helpers. */
function threadTable(summaries: readonly Summary[]): string {
  const totals = new Map<string, number>();
  for (const s of summaries) {
    for (const [name, us] of Object.entries(s.threadUsPerRequest))
      totals.set(name, (totals.get(name) ?? 0) + us);
  }
  const names = [...totals.entries()]
    .filter(([, us]) => us > 0)
    .sort((a, b) => (a[0] === 'MainThread' ? -1 : b[0] === 'MainThread' ? 1 : b[1] - a[1]))
    .map(([name]) => name);
  return markdownTable(
    [
      { header: 'target' },
      { header: 'c', right: true },
      ...names.map((name) => ({ header: name, right: true })),
    ],
    summaries.map((s) => [
      s.target,
      String(s.connections),
      ...names.map((name) => fmt(s.threadUsPerRequest[name] ?? 0, 1)),
    ]),
  );
}

/** Measures one scenario (unless `--rounds 0`), prints its tables, then profiles it if asked. */
async function runScenario(
  scenario: Scenario,
  ctx: ScenarioContext,
  baseline: Omit<Target, 'name' | 'request'>,
  profileToo: boolean,
  failures: string[],
): Promise<Record<string, unknown>> {
  const log = ctx.log;
  let records: RunRecord[] = [];
  let summaries: Summary[] = [];
  const report: string[] = [];
  if (scenario.run) {
    const text = await scenario.run(ctx);
    log(`${text}\n`);
    return { name: scenario.name, report: text };
  }
  if (ctx.rounds > 0 && scenario.prepare) {
    const prepared = await scenario.prepare(ctx);
    const targets = 1 + prepared.candidates.length;
    const seconds = targets * (ctx.warmupSeconds + ctx.rounds * ctx.connections.length * ctx.durationSeconds);
    log(
      `  ${targets} targets × c=${ctx.connections.join(',')} × ${ctx.rounds} rounds × ${ctx.durationSeconds}s ` +
        `(+ warm-up): about ${Math.ceil(seconds / 60)} min${profileToo && scenario.profile ? ', then the profile runs' : ''}`,
    );
    let extra: string | undefined;
    try {
      records = await measureInterleaved(
        { ...baseline, name: baselineName, request: prepared.baselineRequest },
        prepared.candidates,
        ctx,
      );
      summaries = summarize(records, baselineName);
      if (prepared.report) extra = await prepared.report(records, summaries);
    } finally {
      await prepared.close();
    }
    log(`\n${summaryTable(summaries)}\n`);
    log(
      'ratio: median over rounds of req/s ÷ baseline req/s of the same round; CPU ratio: baseline CPU µs/req ÷ target CPU µs/req;\n' +
        'CPU µs/req: server utime+stime (all threads) ÷ requests; server core: that CPU ÷ wall time; errors: non-2xx + socket errors.\n',
    );
    log(`Server CPU µs per request by thread (median over rounds):\n\n${threadTable(summaries)}\n`);
    for (const r of records.filter(
      (x) => x.target === baselineName && x.connections > 1 && x.coreShare < 0.9,
    )) {
      log(
        `note: baseline round ${r.round} c=${r.connections} kept its CPU only ${fmt(r.coreShare * 100)} % busy ` +
          `(server CPU ${fmt(r.cpuBusy.server * 100)} % busy in all, load CPU ${fmt(r.cpuBusy.load * 100)} %): ` +
          (r.cpuBusy.server - r.coreShare > 0.1
            ? 'another process ran on the server CPU'
            : r.cpuBusy.load > 0.95
              ? 'wrk saturated its CPU'
              : 'latency-bound or disturbed') +
          '; that round’s ratios are flattering.',
      );
    }
    for (const s of summaries) {
      if (s.non2xx > 0)
        failures.push(`${scenario.name}/${s.target} c=${s.connections}: ${s.non2xx} non-2xx responses`);
      if (s.socketErrors > 0)
        failures.push(
          `${scenario.name}/${s.target} c=${s.connections}: ${s.socketErrors} socket errors or timeouts`,
        );
    }
    if (extra) {
      log(`${extra}\n`);
      report.push(extra);
    }
    if (scenario.targetRatio !== undefined) {
      const top = Math.max(...ctx.connections);
      for (const s of summaries.filter(
        (x) =>
          x.connections === top &&
          x.target !== baselineName &&
          (scenario.targetCandidate === undefined || x.target === scenario.targetCandidate),
      )) {
        const met = s.ratio.median >= scenario.targetRatio;
        log(
          `target ${s.target} c=${top}: ratio ${fmt(s.ratio.median, 3)} ${met ? '≥' : '<'} ${scenario.targetRatio} → ${met ? 'met' : 'NOT MET'}`,
        );
      }
      log('');
    }
  }
  let profile: string | undefined;
  if (profileToo && scenario.profile) {
    profile = await scenario.profile(ctx, summaries);
    log(`${profile}\n`);
  }
  return {
    name: scenario.name,
    records,
    summaries,
    ...(report.length > 0 ? { report: report.join('\n') } : {}),
    ...(profile ? { profile } : {}),
  };
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${usage}\n`);
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (parsed === 'list') {
    for (const s of scenarios) {
      process.stdout.write(
        `${s.name.padEnd(14)} ${s.inDefaultRun ? '(default) ' : '          '}${s.description}\n`,
      );
    }
    return 0;
  }
  const options = parsed;
  try {
    requireTools(options.serverCpu, options.loadCpu);
  } catch (err) {
    if (err instanceof BenchSetupError) {
      process.stderr.write(`bench: ${err.message}\n`);
      return 1;
    }
    throw err;
  }

  const workDir = makeWorkDir();
  const cleanUp = () => {
    killAllStarted();
    rmSync(workDir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\nbench: ${signal}, stopping servers\n`);
    cleanUp();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const log = (line: string) => process.stdout.write(`${line}\n`);
  const failures: string[] = [];
  const report: Record<string, unknown> = { startedAt: new Date().toISOString() };
  try {
    const cofferDir = options.ref
      ? snapshot(options.ref, workDir)
      : options.cofferDir
        ? resolve(options.cofferDir)
        : repoRoot;
    if (!existsSync(join(cofferDir, 'bin', 'coffer.js'))) throw new Error(`no bin/coffer.js in ${cofferDir}`);
    const machine = describeRun(options, cofferDir);
    report.machine = machine;
    for (const [name, value] of Object.entries(machine)) log(`${name.padEnd(7)} ${value}`);
    log('');

    const baselineServer = await startBenchServer(baselineScript, options.serverCpu, workDir, repoRoot);
    const baseline = {
      target: { baseUrl: baselineServer.baseUrl, pid: baselineServer.process.pid },
      stop: () => baselineServer.stop(),
    };
    const results: Record<string, unknown>[] = [];
    report.scenarios = results;
    try {
      for (const scenario of options.only) {
        const ctx: ScenarioContext = {
          repoDir: cofferDir,
          workDir,
          serverCpu: options.serverCpu,
          loadCpu: options.loadCpu,
          connections: options.connections ?? scenario.defaultConnections ?? [1, 16, 64],
          rounds: options.rounds,
          durationSeconds: options.durationSeconds,
          warmupSeconds: options.warmupSeconds,
          ticksPerSecond: clockTicksPerSecond(),
          log,
        };
        log(`## ${scenario.name}: ${scenario.description}`);
        results.push(await runScenario(scenario, ctx, baseline.target, options.profile, failures));
      }
    } finally {
      await baseline.stop();
    }
  } catch (err) {
    failures.push((err as Error).stack ?? String(err));
  } finally {
    cleanUp();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (options.json) {
    report.failures = failures;
    writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  if (failures.length > 0) {
    process.stderr.write(`bench: FAILED\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
    return 1;
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
