import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/core/config.ts';
import { startMetricsListener, stopMetricsListener } from '../src/http/metrics-listener.ts';
import { freePort, runCoffer, startServerProcess } from './support/cli-process.ts';
import { createTestDatabase, postgresSkipReason } from './support/postgres.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

/** Every sample line of a Prometheus text exposition: name, labels, value. */
function samples(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1]!] = pair[2]!;
    // prom-client writes NaN as `Nan` (Prometheus parses special values case-insensitively).
    const value = match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : Number(match[3]);
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(match[3]!), `bad value: ${line}`);
    out.push({ name: match[1]!, labels, value });
  }
  return out;
}

function valueOf(text: string, name: string, labels: Record<string, string> = {}): number {
  const found = samples(text).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return found.reduce((sum, s) => sum + s.value, 0);
}

describe('metrics: GET /v2/sys/metrics and the metrics listener', () => {
  let node: TestNode;
  let admin: string;
  let projectId: string;
  let instanceBase: string;
  let scraper: string;
  let scraperEmail: string;
  let projectOwner: string;
  const paths = Array.from({ length: 12 }, (_, i) => `team-${i}/db/password-${i}`);

  const api = (method: string, path: string, token: string | undefined, body?: unknown) =>
    call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
  const scrape = async () => {
    const res = await node.server.inject({
      method: 'GET',
      url: '/v2/sys/metrics',
      headers: { authorization: `Bearer ${scraper}` },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res;
  };

  before(async () => {
    node = await startTestNode({ env: { COFFER_METRICS_LISTEN: '127.0.0.1:0' } });
    admin = node.adminToken!;
    projectId = (await api('POST', '/v2/projects', admin, {})).body.id;
    const instance = await api('POST', `/v2/projects/${projectId}/regions/local/instances`, admin, {
      name: 'main',
    });
    assert.equal(instance.status, 201, JSON.stringify(instance.body));
    instanceBase = `/v2/projects/${projectId}/regions/local/instances/${instance.body.id}`;
    const account = async (name: string, role: string, resource: string) => {
      const sa = await api('POST', `/v2/projects/${projectId}/service-accounts`, admin, { name });
      assert.equal(sa.status, 201, JSON.stringify(sa.body));
      const bound = await api('POST', `${resource}/iam-policy:add-binding`, admin, {
        role,
        member: `serviceAccount:${sa.body.email}`,
      });
      assert.ok(bound.status < 300, JSON.stringify(bound.body));
      const token = await api(
        'POST',
        `/v2/projects/${projectId}/service-accounts/${encodeURIComponent(sa.body.email)}/tokens`,
        admin,
        {},
      );
      assert.ok(token.status < 300, JSON.stringify(token.body));
      return { email: sa.body.email as string, token: token.body.token as string };
    };
    ({ email: scraperEmail, token: scraper } = await account('scraper', 'roles/metrics.reader', '/v2'));
    // Owner of the project: every permission there, none at the root.
    projectOwner = (await account('project-owner', 'roles/owner', `/v2/projects/${projectId}`)).token;
    for (const path of paths) {
      const res = await api('POST', `${instanceBase}/secrets`, admin, { path, value: 'v' });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
  });
  after(async () => node?.destroy());

  test('a scrape without a token is 401, with a token lacking sys.metrics.read 403, and both are counted', async () => {
    const before = await scrape();
    const anonymous = await node.server.inject({ method: 'GET', url: '/v2/sys/metrics' });
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.json().error.code, 'unauthenticated');
    const wrong = await node.server.inject({
      method: 'GET',
      url: '/v2/sys/metrics',
      headers: { authorization: `Bearer ${projectOwner}` },
    });
    assert.equal(wrong.statusCode, 403);
    assert.equal(wrong.json().error.code, 'permission_denied');
    assert.doesNotMatch(wrong.body, /coffer_/);
    const afterwards = (await scrape()).body;
    for (const reason of ['unauthenticated', 'permission_denied']) {
      assert.equal(
        valueOf(afterwards, 'coffer_http_denied_total', { reason }) -
          valueOf(before.body, 'coffer_http_denied_total', { reason }),
        1,
        reason,
      );
    }
    assert.equal(
      valueOf(afterwards, 'coffer_http_requests_total', { route: '/v2/sys/metrics', status_class: '4xx' }) -
        valueOf(before.body, 'coffer_http_requests_total', { route: '/v2/sys/metrics', status_class: '4xx' }),
      2,
    );
  });

  test('a permitted scrape answers the Prometheus text format, counting requests by route template', async () => {
    // Reads of many distinct secret paths, twice each (the second from the metadata cache), and
    // as many of paths that do not exist (404 not_found).
    for (const path of [...paths, ...paths]) {
      const res = await api('GET', `${instanceBase}/secrets/${encodeURIComponent(path)}/value`, admin);
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    for (const path of paths) {
      const res = await api(
        'GET',
        `${instanceBase}/secrets/${encodeURIComponent(`no/${path}`)}/value`,
        admin,
      );
      assert.equal(res.status, 404, JSON.stringify(res.body));
    }
    assert.equal((await api('GET', '/v2/no/such/route', admin)).status, 404);
    await node.app.syncChanges();
    const res = await scrape();
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.equal(res.headers['cache-control'], 'no-store');
    const text = res.body;
    for (const family of [
      '# TYPE coffer_http_requests_total counter',
      '# TYPE coffer_http_request_duration_seconds histogram',
      '# TYPE coffer_http_denied_total counter',
      '# TYPE coffer_audit_write_duration_seconds histogram',
      '# TYPE coffer_audit_batch_events histogram',
      '# TYPE coffer_audit_queue_depth gauge',
      '# TYPE coffer_storage_write_duration_seconds histogram',
      '# TYPE coffer_sealed gauge',
      '# TYPE coffer_cache_requests_total counter',
      '# TYPE coffer_changes_total counter',
      '# TYPE process_cpu_user_seconds_total counter',
    ])
      assert.ok(text.includes(`${family}\n`), family);
    const all = samples(text);
    const valueRoute = all.find(
      (s) =>
        s.name === 'coffer_http_requests_total' &&
        s.labels.route?.endsWith('/value') &&
        s.labels.method === 'GET' &&
        s.labels.status_class === '2xx',
    );
    assert.ok(valueRoute, 'the value route is counted');
    assert.match(
      valueRoute.labels.route!,
      /^\/v2\/projects\/:projectId\/.*\/:instanceId\/secrets\/:[a-zA-Z]+\/value$/,
    );
    assert.equal(valueRoute.value, paths.length * 2);
    assert.equal(
      valueOf(text, 'coffer_http_requests_total', { route: valueRoute.labels.route!, status_class: '4xx' }),
      paths.length,
    );
    assert.equal(
      valueOf(text, 'coffer_http_request_duration_seconds_count', {
        route: valueRoute.labels.route!,
        method: 'GET',
      }),
      paths.length * 3,
    );
    assert.equal(valueOf(text, 'coffer_http_requests_total', { route: 'unmatched', status_class: '4xx' }), 1);
    assert.equal(valueOf(text, 'coffer_sealed'), 0);
    assert.ok(valueOf(text, 'coffer_audit_events_written_total') >= paths.length);
    assert.ok(valueOf(text, 'coffer_audit_batch_events_count') > 0);
    assert.ok(valueOf(text, 'coffer_storage_writes_total', { outcome: 'ok' }) > 0);
    assert.ok(valueOf(text, 'coffer_storage_write_duration_seconds_count') > 0);
    assert.ok(valueOf(text, 'coffer_storage_read_duration_seconds_count') > 0);
    assert.equal(valueOf(text, 'coffer_storage_read_errors_total'), 0);
    assert.equal(valueOf(text, 'coffer_changes_total', { type: 'instance.created' }), 1);
    assert.equal(valueOf(text, 'coffer_changes_total', { type: 'secret.created' }), paths.length);
    assert.ok(valueOf(text, 'coffer_http_errors_total', { code: 'not_found' }) >= paths.length);
    assert.ok(valueOf(text, 'coffer_cache_requests_total', { cache: 'secret_metadata', result: 'miss' }) > 0);
    assert.ok(
      valueOf(text, 'coffer_cache_requests_total', { cache: 'secret_metadata', result: 'hit' }) >=
        paths.length,
    );
    for (const cache of ['token', 'authorization'])
      assert.ok(
        valueOf(text, 'coffer_cache_requests_total', { cache, result: 'hit' }) >= paths.length,
        cache,
      );
  });

  test('no label value names a secret path, a project, an instance, a principal or a token', async () => {
    const text = (await scrape()).body;
    const forbidden = [
      ...paths,
      ...paths.map((p) => encodeURIComponent(p)),
      'team-',
      projectId,
      instanceBase.split('/').at(-1)!,
      scraperEmail,
      'serviceAccount:',
      'user:',
      scraper,
    ];
    for (const s of samples(text))
      for (const value of Object.values(s.labels))
        for (const word of forbidden)
          assert.ok(!value.includes(word), `${s.name} label ${value} names ${word}`);
  });

  test('the metrics listener serves /metrics on loopback without a token, and nothing else', async () => {
    const server = await startMetricsListener(node.app);
    assert.ok(server);
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const res = await fetch(`${base}/metrics`);
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.ok(text.includes('# TYPE coffer_http_requests_total counter\n'));
      assert.equal((await fetch(`${base}/v2/sys/metrics`)).status, 404);
      assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
    } finally {
      await stopMetricsListener(server);
    }
  });

  test('metricsListen refuses a non-loopback address unless metricsListenAllowRemote is set', () => {
    assert.throws(
      () => loadConfig({ env: { COFFER_METRICS_LISTEN: '0.0.0.0:9270' } }),
      (err: unknown) => err instanceof ConfigError && err.field === 'metricsListen',
    );
    assert.throws(
      () => loadConfig({ env: { COFFER_METRICS_LISTEN: 'nonsense' } }),
      (err: unknown) => err instanceof ConfigError && /host:port/.test(err.message),
    );
    const allowed = loadConfig({
      env: { COFFER_METRICS_LISTEN: '0.0.0.0:9270', COFFER_METRICS_LISTEN_ALLOW_REMOTE: 'true' },
    });
    assert.equal(allowed.metricsListen, '0.0.0.0:9270');
    assert.equal(loadConfig({ env: {} }).metricsListen, undefined);
    assert.equal(loadConfig({ env: { COFFER_METRICS_LISTEN: '[::1]:9270' } }).metricsListen, '[::1]:9270');
  });
});

describe('metrics: audit sink delivery', () => {
  let node: TestNode;
  const dir = mkdtempSync(join(tmpdir(), 'coffer-metrics-sink-'));
  const path = join(dir, 'audit.jsonl');

  before(async () => {
    node = await startTestNode({
      env: { COFFER_AUDIT_SINKS: JSON.stringify([{ name: 'archive', type: 'file', path }]) },
    });
  });
  after(async () => {
    await node?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('delivered events, pending events and the delivery lag are reported per sink', async () => {
    const admin = node.adminToken!;
    for (let i = 0; i < 3; i++)
      assert.equal((await call(node.url, 'POST', '/v2/projects', { token: admin, body: {} })).status, 201);
    await node.app.auditSinks.run();
    const delivered = readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line.includes('"action"')).length;
    assert.ok(delivered >= 3);
    const res = await node.server.inject({
      method: 'GET',
      url: '/v2/sys/metrics',
      headers: { authorization: `Bearer ${admin}` },
    });
    assert.equal(res.statusCode, 200);
    const text = res.body;
    assert.equal(valueOf(text, 'coffer_audit_sink_delivered_events_total', { sink: 'archive' }), delivered);
    assert.equal(valueOf(text, 'coffer_audit_sink_pending_events', { sink: 'archive' }), 0);
    assert.equal(valueOf(text, 'coffer_audit_sink_failures_total', { sink: 'archive' }), 0);
    const lag = samples(text).find((s) => s.name === 'coffer_audit_sink_delivery_lag_seconds');
    assert.ok(lag && lag.labels.sink === 'archive' && lag.value >= 0 && lag.value < 60, JSON.stringify(lag));
    assert.ok(valueOf(text, 'coffer_audit_sink_last_delivery_timestamp_seconds', { sink: 'archive' }) > 1e9);
  });
});

describe('metrics: `coffer server` with metricsListen', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-metrics-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('serves /metrics on its own loopback port and stops with the server', async () => {
    const port = await freePort();
    const server = await startServerProcess({
      COFFER_DATA_DIR: join(dir, 'a'),
      COFFER_METRICS_LISTEN: `127.0.0.1:${port}`,
    });
    try {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /^# TYPE coffer_http_requests_total counter$/m);
    } finally {
      server.child.kill('SIGTERM');
    }
    assert.equal(await server.exited, 0);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`));
  });

  test('a non-loopback metricsListen exits 2 naming the setting; a port in use exits 1', async () => {
    const remote = await runCoffer(['server'], {
      COFFER_DATA_DIR: join(dir, 'b'),
      COFFER_METRICS_LISTEN: '0.0.0.0:9270',
    });
    assert.equal(remote.code, 2);
    assert.match(remote.stderr, /metricsListen.*metricsListenAllowRemote/);
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    try {
      const busy = await runCoffer(['server'], {
        COFFER_DATA_DIR: join(dir, 'c'),
        COFFER_LISTEN: '127.0.0.1:0',
        COFFER_METRICS_LISTEN: `127.0.0.1:${(taken.address() as AddressInfo).port}`,
      });
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, /metricsListen: EADDRINUSE/);
      assert.equal(busy.stderr.trim().split('\n').length, 1, busy.stderr);
    } finally {
      taken.close();
    }
  });
});

describe(
  'metrics: a database that goes down (PostgreSQL)',
  { skip: (await postgresSkipReason()) ?? false },
  () => {
    test('failed writes and reads are counted and storage shows failing, on the metrics listener', async () => {
      const database = await createTestDatabase();
      const url = new URL(database.url);
      const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
      url.hostname = '127.0.0.1';
      url.port = String(proxy.port);
      const node = await startTestNode({
        env: {
          COFFER_DATABASE_URL: url.toString(),
          COFFER_STORAGE_WRITE_TIMEOUT_MS: '1000',
          COFFER_METRICS_LISTEN: '127.0.0.1:0',
        },
      });
      const listener = await startMetricsListener(node.app);
      const token = node.adminToken!;
      try {
        const scrape = async () =>
          (await fetch(`http://127.0.0.1:${(listener!.address() as AddressInfo).port}/metrics`)).text();
        assert.equal((await call(node.url, 'POST', '/v2/projects', { token, body: {} })).status, 201);
        const before = await scrape();
        assert.equal(valueOf(before, 'coffer_storage_failing'), 0);
        await proxy.cut();
        assert.equal((await call(node.url, 'POST', '/v2/projects', { token, body: {} })).status, 503);
        assert.equal((await call(node.url, 'GET', '/v2/projects', { token })).status, 503);
        // The listener answers from memory: it needs no storage, so it reports the outage.
        const during = await scrape();
        assert.equal(valueOf(during, 'coffer_storage_failing'), 1);
        assert.ok(valueOf(during, 'coffer_storage_writes_total', { outcome: 'failed' }) >= 1);
        assert.ok(valueOf(during, 'coffer_storage_read_errors_total') >= 1);
        assert.ok(valueOf(during, 'coffer_http_errors_total', { code: 'storage_unavailable' }) >= 2);
        assert.ok(valueOf(during, 'coffer_http_requests_total', { status_class: '5xx' }) >= 2);
      } finally {
        await stopMetricsListener(listener);
        await node.destroy();
        await proxy.close();
        await database.drop();
      }
    });
  },
);
