// The harness's own logic: node --test 'bench/**/*.test.ts' (npm test covers src/ and test/ only).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixedJson } from '../baseline-server.ts';
import type { RunRecord } from './measure.ts';
import { summarize } from './measure.ts';
import { cpuStages, heapStages, type StageRule } from './profile-stages.ts';
import { median, parseSeconds } from './stats.ts';
import { markdownTable } from './table.ts';
import { parseWrkOutput, type WrkResult, wrkScript } from './wrk.ts';

test('the baseline answers exactly 300 bytes of valid JSON', () => {
  const body = fixedJson();
  assert.equal(body.length, 300);
  assert.doesNotThrow(() => JSON.parse(body.toString()));
});

test('median of odd and even counts, durations in whole seconds', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  assert.equal(parseSeconds('5s'), 5);
  assert.equal(parseSeconds('1m'), 60);
  assert.equal(parseSeconds('1500ms'), 2);
  assert.throws(() => parseSeconds('five'));
});

test('the Lua script sets method, path, headers and body, and prints one JSON line in done()', () => {
  const script = wrkScript({
    method: 'POST',
    path: '/v2/x',
    headers: { Authorization: 'Bearer cfr_abc', 'Content-Type': 'application/json' },
    body: '{"plaintext":"]]=]"}',
  });
  assert.match(script, /wrk\.method = \[=*\[\nPOST\]=*\]/);
  assert.match(script, /wrk\.headers\[ \[=*\[\nAuthorization\]=*\] \]/);
  // The body contains "]]" and "]=]": the long-bracket level must be higher than both.
  assert.match(script, /wrk\.body = \[==\[\n\{"plaintext":"\]\]=\]"\}\]==\]/);
  assert.match(script, /done = function\(summary, latency, requests\)/);
});

test('wrk output is parsed from the BENCH_JSON line', () => {
  const result = parseWrkOutput(
    'Running 5s test\n  1 threads\n\nBENCH_JSON {"requests":1000,"durationUs":5000000,"bytes":1,' +
      '"errors":{"connect":0,"read":0,"write":0,"status":2,"timeout":0},' +
      '"latencyUs":{"p50":100,"p90":200,"p99":300,"mean":120.5,"max":900}}\n',
  );
  assert.equal(result.requestsPerSecond, 200);
  assert.equal(result.latencyUs.p99, 300);
  assert.equal(result.errors.status, 2);
  assert.throws(() => parseWrkOutput('no line'), /no result line/);
});

function record(target: string, round: number, rps: number, cpuUsPerRequest: number): RunRecord {
  const wrk: WrkResult = {
    requests: rps,
    durationUs: 1_000_000,
    requestsPerSecond: rps,
    bytes: 0,
    latencyUs: { p50: 1, p90: 2, p99: 3, mean: 1, max: 4 },
    errors: { connect: 0, read: 0, write: 0, status: 0, timeout: 0 },
  };
  return {
    target,
    round,
    connections: 64,
    wrk,
    cpuUs: rps * cpuUsPerRequest,
    cpuUsPerRequest,
    coreShare: 1,
    threadCpuUs: { MainThread: rps * cpuUsPerRequest },
    cpuBusy: { server: 1, load: 0.5 },
  };
}

test('the ratio is the median of per-round ratios against the same round’s baseline', () => {
  const records = [
    record('base', 1, 1000, 10),
    record('cand', 1, 500, 20),
    record('base', 2, 2000, 10),
    record('cand', 2, 600, 30),
    record('base', 3, 1000, 10),
    record('cand', 3, 400, 25),
  ];
  const cand = summarize(records, 'base').find((s) => s.target === 'cand')!;
  // Per round: 0.5, 0.3, 0.4.
  assert.equal(cand.ratio.median, 0.4);
  assert.equal(cand.ratio.min, 0.3);
  assert.equal(cand.requestsPerSecond, 500);
  assert.equal(cand.cpuUsPerRequest, 25);
  assert.equal(cand.threadUsPerRequest.MainThread, 25);
});

const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0, columnNumber: 0 });
const rules: StageRule[] = [
  { stage: 'auth', matches: (f) => f.url.endsWith('/src/iam/token-service.ts') },
  { stage: 'storage', tier: 1, matches: (f) => f.url.includes('/node_modules/kysely/') },
];

test('a stage is decided by the innermost matching frame, lower tiers first', () => {
  // root → handler → authenticate → kysely → sqlite (sampled); root → kysely (caller lost); GC.
  const nodes = [
    { id: 1, callFrame: frame('(root)', ''), children: [2, 6, 7] },
    { id: 2, callFrame: frame('handler', 'file:///x/node_modules/fastify/a.js'), children: [3] },
    { id: 3, callFrame: frame('authenticate', 'file:///x/src/iam/token-service.ts'), children: [4] },
    { id: 4, callFrame: frame('execute', 'file:///x/node_modules/kysely/b.js'), children: [5] },
    { id: 5, callFrame: frame('all', ''), children: [] },
    { id: 6, callFrame: frame('resume', 'file:///x/node_modules/kysely/c.js'), children: [] },
    { id: 7, callFrame: frame('(garbage collector)', ''), children: [] },
  ];
  const profile = {
    nodes,
    startTime: 0,
    endTime: 40,
    samples: [5, 6, 7, 2, 5],
    timeDeltas: [0, 10, 10, 10, 10],
  };
  const times = cpuStages(profile, rules, 'framework');
  assert.equal(times.stages.get('auth'), 10);
  assert.equal(times.stages.get('storage'), 10);
  assert.equal(times.stages.get('GC'), 10);
  assert.equal(times.stages.get('framework'), 10);
  // The last sample has no successor: it stands for no time.
  assert.equal(times.total, 40);

  const heap = heapStages(
    {
      id: 1,
      callFrame: frame('(root)', ''),
      selfSize: 0,
      children: [
        {
          id: 3,
          callFrame: frame('authenticate', 'file:///x/src/iam/token-service.ts'),
          selfSize: 100,
          children: [],
        },
      ],
    },
    rules,
    'framework',
  );
  assert.equal(heap.stages.get('auth'), 100);
});

test('tables line up and right-align numbers', () => {
  const table = markdownTable(
    [{ header: 'name' }, { header: 'n', right: true }],
    [
      ['a', '1'],
      ['bbbb', '100'],
    ],
  );
  assert.equal(table, ['| name |   n |', '| ---- | --: |', '| a    |   1 |', '| bbbb | 100 |'].join('\n'));
});
