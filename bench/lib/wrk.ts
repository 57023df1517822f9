import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { track } from './server-process.ts';

/** One HTTP request, sent over and over by wrk. */
export interface RequestSpec {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** Path and query, starting with `/`. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /**
   * Variants to pick from at random for each request (e.g. 1,000 secret paths): wrk pre-formats them
   * all in `init` and its `request()` hook returns one by `math.random`, so the load spreads over many
   * rows at the cost of one Lua call per request. Each variant overrides `path` and/or `body`, and
   * may add or override headers (e.g. a SigV4 `Authorization` signed over that variant's body).
   */
  readonly variants?: readonly {
    readonly path?: string;
    readonly body?: string;
    readonly headers?: Readonly<Record<string, string>>;
  }[];
}

/** What one wrk run measured (from the Lua `done()` hook, not from wrk's human-readable text). */
export interface WrkResult {
  /** Completed responses. */
  readonly requests: number;
  /** Length of the run as wrk timed it, in microseconds. */
  readonly durationUs: number;
  readonly requestsPerSecond: number;
  readonly bytes: number;
  /** Latency percentiles and extremes, in microseconds. */
  readonly latencyUs: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly mean: number;
    readonly max: number;
  };
  /** wrk's error counters; `status` counts responses with a status ≥ 400 ("Non-2xx or 3xx responses"). */
  readonly errors: {
    readonly connect: number;
    readonly read: number;
    readonly write: number;
    readonly status: number;
    readonly timeout: number;
  };
}

/** Options of one wrk run. */
export interface WrkRun {
  /** `http://host:port` of the server. */
  readonly baseUrl: string;
  readonly request: RequestSpec;
  readonly connections: number;
  readonly durationSeconds: number;
  /** CPU the load generator is pinned to with taskset. */
  readonly loadCpu: number;
  /** Directory for the generated Lua script. */
  readonly workDir: string;
  /** A request slower than this counts as a timeout error (default 10 s: wrk's 2 s is too tight at c=64). */
  readonly requestTimeoutSeconds?: number;
}

const marker = 'BENCH_JSON ';

/** A Lua long string that cannot be closed by `text`. */
function luaString(text: string): string {
  let level = 1;
  while (text.includes(`]${'='.repeat(level)}]`)) level++;
  const eq = '='.repeat(level);
  // A newline right after the opening bracket is dropped by Lua, so a leading newline survives.
  return `[${eq}[\n${text}]${eq}]`;
}

/**
 * The Lua script: method, headers and body set once (wrk then sends a pre-built request, the cheap
 * path), and a `done()` hook printing one JSON line with the counts and latency percentiles.
 * No `response()` hook: it would make wrk parse every body in Lua and cost the load generator CPU.
 */
export function wrkScript(request: RequestSpec): string {
  const lines = [`wrk.method = ${luaString(request.method)}`];
  lines.push(`wrk.path = ${luaString(request.path)}`);
  for (const [name, value] of Object.entries(request.headers)) {
    lines.push(`wrk.headers[ ${luaString(name)} ] = ${luaString(value)}`);
  }
  if (request.body !== undefined) lines.push(`wrk.body = ${luaString(request.body)}`);
  if (request.variants && request.variants.length > 0) {
    lines.push('local variants = {');
    for (const v of request.variants) {
      const headers =
        v.headers === undefined
          ? 'nil'
          : `{ ${Object.entries({ ...request.headers, ...v.headers })
              .map(([name, value]) => `[ ${luaString(name)} ] = ${luaString(value)}`)
              .join(', ')} }`;
      lines.push(
        `  { ${v.path === undefined ? 'nil' : luaString(v.path)}, ${v.body === undefined ? 'nil' : luaString(v.body)}, ${headers} },`,
      );
    }
    lines.push(
      '}',
      'local prepared = {}',
      'init = function(args)',
      '  math.randomseed(os.time())',
      '  for i, v in ipairs(variants) do',
      '    prepared[i] = wrk.format(nil, v[1] or wrk.path, v[3], v[2] or wrk.body)',
      '  end',
      'end',
      'request = function()',
      '  return prepared[math.random(#prepared)]',
      'end',
    );
  }
  lines.push(
    '',
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(',
    `    '\\n${marker}{"requests":%.0f,"durationUs":%.0f,"bytes":%.0f,' ..`,
    `    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..`,
    `    '"latencyUs":{"p50":%.0f,"p90":%.0f,"p99":%.0f,"mean":%.1f,"max":%.0f}}\\n',`,
    '    summary.requests, summary.duration, summary.bytes,',
    '    e.connect, e.read, e.write, e.status, e.timeout,',
    '    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))',
    'end',
    '',
  );
  return lines.join('\n');
}

interface RawResult {
  requests: number;
  durationUs: number;
  bytes: number;
  errors: WrkResult['errors'];
  latencyUs: WrkResult['latencyUs'];
}

/** Parses the JSON line the `done()` hook printed; throws with wrk's output when there is none. */
export function parseWrkOutput(stdout: string, stderr = ''): WrkResult {
  const line = stdout.split('\n').find((text) => text.startsWith(marker));
  if (!line) throw new Error(`wrk printed no result line.\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  const raw = JSON.parse(line.slice(marker.length)) as RawResult;
  return {
    ...raw,
    requestsPerSecond: raw.durationUs > 0 ? (raw.requests * 1_000_000) / raw.durationUs : 0,
  };
}

/** Total of wrk's error counters. */
export function errorCount(result: WrkResult): number {
  const e = result.errors;
  return e.connect + e.read + e.write + e.status + e.timeout;
}

/**
 * Runs `taskset -c <loadCpu> wrk -t1 -c<connections> -d<duration>s` with the request's Lua script.
 * One wrk thread: the load generator has one core, a second thread would only compete for it.
 * Bounded: killed if it has not finished 20 s after its duration.
 */
export async function runWrk(run: WrkRun): Promise<WrkResult> {
  const script = join(
    run.workDir,
    `wrk-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.lua`,
  );
  writeFileSync(script, wrkScript(run.request));
  const args = [
    '-c',
    String(run.loadCpu),
    'wrk',
    '-t1',
    `-c${run.connections}`,
    `-d${run.durationSeconds}s`,
    `--timeout`,
    `${run.requestTimeoutSeconds ?? 10}s`,
    '-s',
    script,
    `${run.baseUrl}${run.request.path}`,
  ];
  const child = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), (run.durationSeconds + 20) * 1000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  }).finally(() => clearTimeout(killer));
  if (code !== 0) throw new Error(`wrk exited with ${code}.\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  return parseWrkOutput(stdout, stderr);
}
