import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CofferClient } from '../src/sdk/index.ts';
import { freePort } from './support/cli-process.ts';
import {
  type AgentFixture,
  type AgentProcess,
  startAgent,
  startAgentFixture,
  waitFor,
} from './support/agent-fixture.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';

const binary = Buffer.from([0xff, 0x00, 0xfe, 0x80]);

/** Stops an agent that is still running (SIGTERM) and waits for it. */
async function stop(agent: AgentProcess | undefined): Promise<void> {
  if (!agent) return;
  if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGTERM');
  await agent.done;
}

describe('coffer agent: listener, change feed, outage and exec', { concurrency: true }, () => {
  let f: AgentFixture;

  before(async () => {
    f = await startAgentFixture();
    await f.secret('live/db', '{"user":"app","password":"one"}');
    await f.secret('live/api', 'key-1');
    await f.secret('live/bin', binary);
    await f.secret('stale/x', 'cached');
    await f.secret('exec/token', 'tok-1');
    await f.secret('exec/restart', 'r-1');
  });
  after(async () => {
    await f?.destroy();
  });

  test('the listener serves the server’s answer with the listener token (key-file identity), 401 without; a put reaches file and listener within 1 s; /metrics and /health', async () => {
    const key = await f.admin.iam.createKey({ projectId: f.projectId, email: f.email });
    const keyFile = join(f.dir, 'key.json');
    writeFileSync(keyFile, JSON.stringify(key), { mode: 0o600 });
    const port = await freePort();
    const out = join(f.dir, 'live.env');
    const config = f.config(
      'live.yaml',
      `listen: 127.0.0.1:${port}
listenerTokenFile: ${f.listenerTokenFile}
templates:
  - contents: 'password={{ secret "live/db" "password" }}'
    destination: ${out}
`,
      undefined,
      `auth:\n  keyFile: ${keyFile}\n`,
    );
    const agent = startAgent(['--config', config]);
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor('the listener', () => agent.output.stderr.includes('agent listener ready'), 15_000);
      const route = `/v2/projects/${f.projectId}/regions/local/instances/${f.instanceId}/secrets/${encodeURIComponent('live/api')}/value`;
      const auth = { authorization: `Bearer ${f.listenerToken}` };
      const fromAgent = await fetch(`${base}${route}`, { headers: { ...auth, 'x-request-id': 'req-1' } });
      const fromServer = await fetch(`${f.node.url}${route}`, {
        headers: { authorization: `Bearer ${f.node.adminToken}` },
      });
      assert.equal(fromAgent.status, 200);
      assert.deepEqual(await fromAgent.json(), await fromServer.json());
      assert.equal(fromAgent.headers.get('cache-control'), 'no-store');
      assert.equal(fromAgent.headers.get('x-request-id'), 'req-1');
      assert.equal(fromAgent.headers.get('x-coffer-stale'), null);
      // The SDK switches by its base URL, with the listener token as its token.
      const viaSdk = new CofferClient({ address: base, token: f.listenerToken });
      const ref = { projectId: f.projectId, regionId: 'local', instanceId: f.instanceId, secret: 'live/api' };
      assert.equal((await viaSdk.secrets.getSecretValue(ref)).value, 'key-1');
      const binRoute = route.replace(encodeURIComponent('live/api'), encodeURIComponent('live/bin'));
      const bin = (await (await fetch(`${base}${binRoute}`, { headers: auth })).json()) as {
        binaryValue: string;
      };
      assert.deepEqual(Buffer.from(bin.binaryValue, 'base64'), binary);

      const malformed = await fetch(
        `${base}/v2/projects/%E0%A4%A/regions/local/instances/i/secrets/x/value`,
        {
          headers: auth,
        },
      );
      assert.equal(malformed.status, 400);
      const otherProject = await fetch(`${base}${route.replace(f.projectId, 'another-project')}`, {
        headers: auth,
      });
      assert.equal(otherProject.status, 403);
      for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789abcd' }]) {
        const denied = await fetch(`${base}${route}`, { headers });
        assert.equal(denied.status, 401);
        assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'unauthenticated');
      }

      assert.equal(readFileSync(out, 'utf8'), 'password=one');
      const started = Date.now();
      await f.put('live/db', '{"user":"app","password":"two"}');
      await f.put('live/api', 'key-2');
      await waitFor('the file to change', () => readFileSync(out, 'utf8') === 'password=two', 1_000);
      await waitFor(
        'the listener to answer the new value',
        async () =>
          ((await (await fetch(`${base}${route}`, { headers: auth })).json()) as { value: string }).value ===
          'key-2',
        1_000,
      );
      assert.ok(Date.now() - started < 1_000);

      const metrics = await (await fetch(`${base}/metrics`)).text();
      for (const series of [
        'coffer_agent_cache_hits_total',
        'coffer_agent_cache_misses_total',
        'coffer_agent_cache_hit_ratio',
        'coffer_agent_fetch_duration_seconds_bucket',
        'coffer_agent_stale_seconds 0',
        'coffer_agent_feed_events_total',
        'coffer_agent_feed_connected 1',
      ])
        assert.ok(metrics.includes(series), series);
      // The first render and the one for the put; a feed delivering the two puts apart may add one.
      const renders = Number(/^coffer_agent_renders_total (\d+)$/m.exec(metrics)?.[1]);
      assert.ok(renders === 2 || renders === 3, `coffer_agent_renders_total ${renders}`);
      assert.doesNotMatch(metrics, /key-2|password|two/);
      const health = await fetch(`${base}/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), {
        status: 'ok',
        feed: 'connected',
        staleSeconds: 0,
        cachedSecrets: 3,
      });
    } finally {
      await stop(agent);
    }
    assert.doesNotMatch(
      agent.output.stderr + agent.output.stdout,
      /key-1|key-2|"one"|cfr_/,
      'no value or token logged',
    );
  });

  test('server down mid-run: the last value is served with X-Coffer-Stale, then 503 after maxStale', async () => {
    const target = new URL(f.node.url);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    const port = await freePort();
    const config = f.config(
      'stale.yaml',
      `listen: 127.0.0.1:${port}\nlistenerTokenFile: ${f.listenerTokenFile}\ncache:\n  maxStale: 2s\n`,
      `http://127.0.0.1:${proxy.port}`,
    );
    const agent = startAgent(['--config', config]);
    try {
      await waitFor('the listener', () => agent.output.stderr.includes('agent listener ready'), 15_000);
      const url = `http://127.0.0.1:${port}/v2/projects/${f.projectId}/regions/local/instances/${f.instanceId}/secrets/stale%2Fx/value`;
      const get = () => fetch(url, { headers: { authorization: `Bearer ${f.listenerToken}` } });
      assert.equal((await get()).status, 200);
      await proxy.cut();
      let stale: Response | undefined;
      await waitFor('a stale answer', async () => {
        stale = await get();
        return stale.headers.get('x-coffer-stale') !== null;
      });
      assert.equal(stale!.status, 200);
      assert.equal(((await stale!.json()) as { value: string }).value, 'cached');
      await waitFor('503 past maxStale', async () => (await get()).status === 503, 5_000);
      const refused = await get();
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'unavailable');
      assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 503);
      await proxy.restore();
      await waitFor('fresh again', async () => {
        const res = await get();
        return res.status === 200 && res.headers.get('x-coffer-stale') === null;
      });
    } finally {
      await stop(agent);
      await proxy.close();
    }
  });

  test('a disabled key file: a clear log line, the auth failure metric, and the cached value served stale', async () => {
    const key = await f.admin.iam.createKey({ projectId: f.projectId, email: f.email });
    const keyFile = join(f.dir, 'disabled-key.json');
    writeFileSync(keyFile, JSON.stringify(key), { mode: 0o600 });
    const port = await freePort();
    const config = f.config(
      'disabled.yaml',
      `listen: 127.0.0.1:${port}\nlistenerTokenFile: ${f.listenerTokenFile}\n`,
      undefined,
      `auth:\n  keyFile: ${keyFile}\n`,
    );
    const agent = startAgent(['--config', config]);
    try {
      await waitFor('the listener', () => agent.output.stderr.includes('agent listener ready'), 15_000);
      const base = `http://127.0.0.1:${port}`;
      const url = `${base}/v2/projects/${f.projectId}/regions/local/instances/${f.instanceId}/secrets/stale%2Fx/value`;
      const get = () => fetch(url, { headers: { authorization: `Bearer ${f.listenerToken}` } });
      assert.equal((await get()).status, 200);
      await f.admin.iam.setKeyDisabled({ projectId: f.projectId, email: f.email }, key.privateKeyId, true);
      await waitFor(
        'the log line',
        () => agent.output.stderr.includes('refused the agent’s credential'),
        8_000,
      );
      const stale = await get();
      assert.equal(stale.status, 200);
      assert.notEqual(stale.headers.get('x-coffer-stale'), null);
      assert.equal(((await stale.json()) as { value: string }).value, 'cached');
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /coffer_agent_auth_failures_total [1-9]/);
      assert.match(metrics, /coffer_agent_feed_connected 0/);
    } finally {
      await stop(agent);
    }
  });

  test('listen unix:/path makes a socket of mode 0600 that serves values without a token', async () => {
    const socketPath = join(f.dir, 'agent.sock');
    const config = f.config('unix.yaml', `listen: unix:${socketPath}\n`);
    const agent = startAgent(['--config', config]);
    try {
      await waitFor('the listener', () => agent.output.stderr.includes('agent listener ready'), 15_000);
      assert.equal(statSync(socketPath).mode & 0o777, 0o600);
      const path = `/v2/projects/${f.projectId}/regions/local/instances/${f.instanceId}/secrets/stale%2Fx/value`;
      const body = await new Promise<string>((resolve, reject) => {
        request({ socketPath, path }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
      assert.equal((JSON.parse(body) as { value: string }).value, 'cached');
    } finally {
      await stop(agent);
    }
  });

  test('exec mode: the command gets the variables and its exit code is the agent’s', async () => {
    const config = f.config('exec.yaml', `exec:\n  env:\n    API_TOKEN: exec/token\n`);
    const result = await startAgent([
      '--config',
      config,
      '--',
      process.execPath,
      '-e',
      'process.stdout.write(String(process.env.API_TOKEN)); process.exit(7)',
    ]).done;
    assert.equal(result.code, 7, result.stderr);
    assert.equal(result.stdout, 'tok-1');
  });

  test('exec mode refuses a binary value in a variable with a clear message', async () => {
    const config = f.config(
      'exec-bin.yaml',
      `exec:\n  command: [sh, -c, "exit 0"]\n  env:\n    BLOB: live/bin\n`,
    );
    const result = await startAgent(['--config', config]).done;
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /exec\.env\.BLOB: secret live\/bin is binary; an environment variable holds text only/,
    );
  });

  test('exec onChange restart: a put restarts the command with the new value', async () => {
    const config = f.config(
      'exec-restart.yaml',
      `exec:
  command: ['${process.execPath}', '-e', 'process.stdout.write("[" + process.env.R + "]"); setInterval(() => {}, 1000)']
  env:
    R: exec/restart
  onChange: restart
  grace: 2s
`,
    );
    const agent = startAgent(['--config', config]);
    try {
      await waitFor('the first start', () => agent.output.stdout.includes('[r-1]'), 15_000);
      await f.put('exec/restart', 'r-2');
      await waitFor('the restart with the new value', () => agent.output.stdout.includes('[r-2]'), 3_000);
      agent.child.kill('SIGTERM');
      const result = await agent.done;
      // The child was killed by the forwarded SIGTERM: 128 + 15, as a shell reports it.
      assert.equal(result.code, 143, result.stderr);
    } finally {
      await stop(agent);
    }
  });
});
