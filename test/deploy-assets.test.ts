import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { exposedSeriesNames, promqlSeriesNames } from './support/promql-names.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

// deploy/grafana/coffer.json and deploy/prometheus/*.yml against the series a real node exposes,
// and promtool's own checks (check rules, the unit tests of alerts.test.yml) where it is installed
// (Debian package prometheus; with CI=true a missing promtool fails).

const root = fileURLToPath(new URL('..', import.meta.url));
const prometheusDir = join(root, 'deploy', 'prometheus');
const dashboardFile = join(root, 'deploy', 'grafana', 'coffer.json');

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Array<{ expr: string; refId: string; datasource?: { uid: string } }>;
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
}

const rulesOf = (file: string): Rule[] =>
  (
    parse(readFileSync(join(prometheusDir, file), 'utf8')) as { groups: Array<{ rules: Rule[] }> }
  ).groups.flatMap((group) => group.rules);
const recordingRules = rulesOf('rules.yml');
const alertRules = rulesOf('alerts.yml');
const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as {
  schemaVersion: number;
  uid: string;
  panels: Panel[];
  templating: { list: Variable[] };
};
const queryPanels = dashboard.panels.filter((panel) => panel.type !== 'row');
const variableQuery = (variable: Variable) =>
  typeof variable.query === 'string' ? variable.query : variable.query.query;

/** The series of `label_values(SELECTOR, label)`, else the query itself. */
const variableSelector = (query: string) => /^label_values\((.*),\s*\w+\)$/.exec(query)?.[1] ?? query;

/** Grafana's variables given values promtool accepts. */
const concrete = (expr: string) =>
  expr
    .replaceAll('$__rate_interval', '5m')
    .replaceAll('$__range', '1h')
    .replace(/\$\{?(job|instance|route)\}?/g, '.*');

function promtool(): { path?: string; reason?: string } {
  const found = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  if (found.status === 0) return { path: found.stdout.trim() };
  return { reason: 'promtool not installed (Debian package prometheus; .ci/run installs it)' };
}

function runPromtool(path: string, args: string[]): string {
  const run = spawnSync(path, args, { encoding: 'utf8', cwd: root, timeout: 60_000 });
  assert.equal(run.status, 0, `promtool ${args.join(' ')}:\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

describe('deploy assets: Grafana dashboard and Prometheus rules against the real series', () => {
  let node: TestNode;
  let exposed: Set<string>;
  let known: Set<string>;

  before(async () => {
    node = await startTestNode();
    const scrape = await node.server.inject({
      method: 'GET',
      url: '/v2/sys/metrics',
      headers: { authorization: `Bearer ${node.adminToken}` },
    });
    assert.equal(scrape.statusCode, 200, scrape.body);
    exposed = exposedSeriesNames(scrape.body);
    assert.ok(exposed.has('coffer_http_requests_total') && exposed.has('process_cpu_seconds_total'));
    // Series Prometheus itself makes (up) and the recording rules of rules.yml.
    known = new Set([...exposed, 'up', ...recordingRules.map((rule) => rule.record!)]);
  });
  after(async () => node?.destroy());

  const unknownIn = (exprs: Array<[where: string, expr: string]>) =>
    exprs.flatMap(([where, expr]) => {
      const names = promqlSeriesNames(expr);
      if (names.length === 0) return [`${where}: reads no series: ${expr}`];
      return names.filter((name) => !known.has(name)).map((name) => `${where}: ${name}`);
    });

  test('every series a dashboard query or variable reads is one a node exposes (a renamed series fails)', () => {
    const exprs: Array<[string, string]> = [
      ...queryPanels.flatMap((panel) =>
        (panel.targets ?? []).map((t): [string, string] => [`panel "${panel.title}" ${t.refId}`, t.expr]),
      ),
      ...dashboard.templating.list
        .filter((variable) => variable.type === 'query')
        .map((variable): [string, string] => [
          `variable ${variable.name}`,
          variableSelector(variableQuery(variable)),
        ]),
    ];
    assert.ok(exprs.length >= 40, `only ${exprs.length} queries`);
    assert.deepEqual(unknownIn(exprs), []);
    // Every Coffer series the node exposes is on the dashboard (histograms by their buckets or sums).
    const read = new Set(exprs.flatMap(([, expr]) => promqlSeriesNames(expr)));
    const missing = [...exposed].filter(
      (name) =>
        name.startsWith('coffer_') &&
        !/_(bucket|sum|count)$/.test(name) &&
        !['_bucket', '_sum', '_count', ''].some((suffix) => read.has(name + suffix)),
    );
    assert.deepEqual(missing, []);
  });

  test('every series an alert or recording rule reads is one a node exposes', () => {
    assert.deepEqual(
      unknownIn([...recordingRules, ...alertRules].map((rule) => [rule.record ?? rule.alert!, rule.expr])),
      [],
    );
  });

  test('the dashboard is an importable Grafana model: a ${datasource} Prometheus variable used by every query', () => {
    assert.ok(
      dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41,
      String(dashboard.schemaVersion),
    );
    assert.equal(dashboard.uid, 'coffer-overview');
    const datasource = dashboard.templating.list.find((variable) => variable.name === 'datasource');
    assert.equal(datasource?.type, 'datasource');
    assert.equal(datasource?.query, 'prometheus');
    const ids = dashboard.panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const panel of queryPanels) {
      assert.equal(panel.datasource?.uid, '${datasource}', panel.title);
      assert.ok((panel.targets ?? []).length > 0, `${panel.title} has a query`);
      for (const target of panel.targets ?? [])
        assert.equal(target.datasource?.uid, '${datasource}', panel.title);
      const { x, w, h } = panel.gridPos;
      assert.ok(x >= 0 && w > 0 && h > 0 && x + w <= 24, `${panel.title} fits the 24-column grid`);
    }
    // No two panels overlap.
    const cells = new Set<string>();
    for (const { gridPos, title } of dashboard.panels)
      for (let y = gridPos.y; y < gridPos.y + gridPos.h; y++)
        for (let x = gridPos.x; x < gridPos.x + gridPos.w; x++) {
          assert.ok(!cells.has(`${x},${y}`), `${title} overlaps another panel at ${x},${y}`);
          cells.add(`${x},${y}`);
        }
  });

  test('every alert has a severity, a summary, a description and a runbook line, a promtool unit test that fires it, and a docs/packaging.md entry', () => {
    const tests = parse(readFileSync(join(prometheusDir, 'alerts.test.yml'), 'utf8')) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
    };
    const fired = new Set(
      tests.tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((a) => (a.exp_alerts ?? []).length > 0).map((a) => a.alertname),
      ),
    );
    const docs = readFileSync(join(root, 'docs', 'packaging.md'), 'utf8');
    for (const rule of alertRules) {
      assert.match(rule.labels?.severity ?? '', /^(page|critical|warning|ticket)$/, rule.alert);
      for (const key of ['summary', 'description', 'runbook'])
        assert.ok(rule.annotations?.[key], `${rule.alert} has annotation ${key}`);
      assert.ok(fired.has(rule.alert!), `alerts.test.yml has a case where ${rule.alert} fires`);
      assert.ok(docs.includes(`\`${rule.alert}\``), `docs/packaging.md describes ${rule.alert}`);
    }
  });

  describe('promtool', () => {
    const tool = promtool();
    const skip = tool.path === undefined && process.env.CI !== 'true' ? tool.reason : undefined;
    const dir = mkdtempSync(join(tmpdir(), 'coffer-promtool-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const path = () => {
      if (tool.path === undefined) assert.fail(`${tool.reason} (CI=true: required)`);
      return tool.path;
    };

    test('check rules: rules.yml and alerts.yml are valid', { skip }, () => {
      const out = runPromtool(path(), [
        'check',
        'rules',
        'deploy/prometheus/rules.yml',
        'deploy/prometheus/alerts.yml',
      ]);
      assert.match(out, /SUCCESS: 21 rules found[\s\S]*SUCCESS: \d+ rules found/);
    });

    test(
      'test rules: each alert fires on bad series and stays quiet on good ones (alerts.test.yml)',
      { skip },
      () => {
        assert.match(runPromtool(path(), ['test', 'rules', 'deploy/prometheus/alerts.test.yml']), /SUCCESS/);
      },
    );

    test(
      'every dashboard query is valid PromQL (as recording rules, variables given values)',
      { skip },
      () => {
        const rules = queryPanels.flatMap((panel) =>
          (panel.targets ?? []).map((target, i) => ({
            record: `dashboard:panel_${panel.id}_${i}`,
            expr: concrete(target.expr),
          })),
        );
        const file = join(dir, 'dashboard-rules.yml');
        writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
        assert.match(
          runPromtool(path(), ['check', 'rules', file]),
          new RegExp(`SUCCESS: ${rules.length} rules found`),
        );
      },
    );
  });
});
