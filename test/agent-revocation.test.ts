import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from './support/cli-process.ts';
import {
  type AgentFixture,
  type AgentProcess,
  startAgent,
  startAgentFixture,
  waitFor,
} from './support/agent-fixture.ts';

const accessor = 'roles/secretsmanager.secretAccessor';

/** Stops an agent that is still running (SIGTERM) and waits for it. */
async function stop(agent: AgentProcess): Promise<void> {
  if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGTERM');
  await agent.done;
}

describe('coffer agent: values its identity lost are no longer served', () => {
  let f: AgentFixture;
  const secret = (path: string) => ({
    projectId: f.projectId,
    regionId: 'local',
    instanceId: f.instanceId,
    secret: path,
  });
  /** Lets the agent read `paths` until `expiresAtMs` (the secrets' whole policy). */
  const grantUntil = async (paths: readonly string[], expiresAtMs: number) => {
    const condition = { title: 'time-bound', expiresAt: new Date(expiresAtMs).toISOString() };
    const bindings = [{ role: accessor, members: [f.member], condition }];
    for (const path of paths) await f.admin.iam.setPolicy(secret(path), { bindings });
  };
  const route = (path: string) =>
    `/v2/projects/${f.projectId}/regions/local/instances/${f.instanceId}/secrets/${encodeURIComponent(path)}/value`;

  before(async () => {
    f = await startAgentFixture();
    await f.secret('rev/policy', 'old-policy-value');
    await f.secret('rev/purged', 'old-purged-value');
    // Readable through a time-bound grant only (given in the test): its expiry writes no change.
    await f.secret('rev/tpl', 'old-template-value', false);
    await f.secret('rev/expiring', 'old-expiring-value', false);
    await f.secret('seen/policy', 'old-seen-value');
    await f.secret('rev/exec', 'old-exec-value', false);
  });
  after(async () => {
    await f?.destroy();
  });

  test('a lost grant, a purge and an expired time-bound grant (which writes no change): the listener answers the server’s 403/404 within cache.revalidate; the file keeps its last content, logged and counted', async () => {
    await grantUntil(['rev/tpl', 'rev/expiring'], Date.now() + 60_000);
    const port = await freePort();
    const out = join(f.dir, 'rev.env');
    const config = f.config(
      'rev.yaml',
      `listen: 127.0.0.1:${port}
listenerTokenFile: ${f.listenerTokenFile}
cache:
  revalidate: 1s
templates:
  - contents: 'T={{ secret "rev/tpl" }}'
    destination: ${out}
`,
    );
    const agent = startAgent(['--config', config]);
    try {
      await waitFor('the listener', () => agent.output.stderr.includes('agent listener ready'), 15_000);
      const base = `http://127.0.0.1:${port}`;
      const auth = { authorization: `Bearer ${f.listenerToken}` };
      for (const path of ['rev/policy', 'rev/purged', 'rev/expiring'])
        assert.equal((await fetch(base + route(path), { headers: auth })).status, 200);
      // Shortened now: the agent may see this change (and still read both); the expiry writes none.
      await grantUntil(['rev/tpl', 'rev/expiring'], Date.now() + 1_000);
      await f.admin.iam.removeBinding(secret('rev/policy'), { role: accessor, member: f.member });
      await f.put('rev/policy', 'rotated-after-compromise');
      const purge = await fetch(
        `${f.node.url}${route('rev/purged').replace(/\/value$/, '')}?recoveryWindowDays=0`,
        { method: 'DELETE', headers: { authorization: `Bearer ${f.node.adminToken}` } },
      );
      assert.ok(purge.status < 300, await purge.text());

      const agentToken = readFileSync(f.tokenFile, 'utf8').trim();
      // The purged secret took its own binding along: the server answers 403 for it, as for any
      // secret the caller cannot know exists.
      for (const path of ['rev/policy', 'rev/purged', 'rev/expiring']) {
        let answer: Response | undefined;
        await waitFor(
          `${path} refused`,
          async () => {
            answer = await fetch(base + route(path), { headers: auth });
            return answer.status !== 200;
          },
          5_000,
        );
        const server = await fetch(f.node.url + route(path), {
          headers: { authorization: `Bearer ${agentToken}` },
        });
        assert.ok([403, 404].includes(answer!.status), `${path}: ${answer!.status}`);
        assert.equal(answer!.status, server.status, path);
        const body = (await answer!.json()) as {
          error: { code: string; message: string; requestId: string };
        };
        const expected = (await server.json()) as { error: { code: string; message: string } };
        assert.equal(body.error.code, expected.error.code);
        assert.equal(body.error.message, expected.error.message);
        assert.equal(typeof body.error.requestId, 'string');
      }

      await waitFor('the template’s drop logged', () =>
        agent.output.stderr.includes('the file keeps its last rendered content'),
      );
      assert.equal(readFileSync(out, 'utf8'), 'T=old-template-value');
      const metrics = await (await fetch(`${base}/metrics`)).text();
      // Four dropped: a lost grant, a purge (the feed may show those) and two expired grants (only
      // revalidation finds them).
      assert.match(metrics, /coffer_agent_cache_dropped_total\{code="permission_denied"\} 4/);
      assert.match(metrics, /coffer_agent_outputs_kept 1/);
      assert.match(metrics, /coffer_agent_revalidations_total [1-9]/);
      assert.doesNotMatch(agent.output.stderr, /old-|rotated-after/, 'no value logged');
    } finally {
      await stop(agent);
    }
  });

  test('exec mode: a variable whose grant expired keeps the command running with its last value, logged and counted', async () => {
    await grantUntil(['rev/exec'], Date.now() + 60_000);
    const port = await freePort();
    const config = f.config(
      'rev-exec.yaml',
      `listen: 127.0.0.1:${port}
listenerTokenFile: ${f.listenerTokenFile}
cache:
  revalidate: 1s
exec:
  command: ['${process.execPath}', '-e', 'process.stdout.write("[started]"); setInterval(() => {}, 1000)']
  env:
    E: rev/exec
`,
    );
    const agent = startAgent(['--config', config]);
    try {
      await waitFor('the command', () => agent.output.stdout.includes('[started]'), 15_000);
      await grantUntil(['rev/exec'], Date.now() + 1_000);
      await waitFor(
        'the drop logged',
        () => agent.output.stderr.includes('the command keeps running with its last value'),
        5_000,
      );
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /coffer_agent_outputs_kept 1/);
      assert.match(metrics, /coffer_agent_exec_restarts_total 0/);
      assert.equal(agent.child.exitCode, null, 'the agent and its command still run');
      assert.equal(agent.output.stdout, '[started]');
      assert.doesNotMatch(agent.output.stderr, /old-exec-value/);
    } finally {
      await stop(agent);
    }
  });

  test('a policy change the feed shows drops the secret at once, without waiting for cache.revalidate', async () => {
    const instance = { projectId: f.projectId, regionId: 'local', instanceId: f.instanceId };
    // Metadata on the instance: the agent still sees the policy change of the secret.
    await f.admin.iam.addBinding(instance, { role: 'roles/secretsmanager.viewer', member: f.member });
    const port = await freePort();
    const config = f.config(
      'seen.yaml',
      `listen: 127.0.0.1:${port}\nlistenerTokenFile: ${f.listenerTokenFile}\n`,
    );
    const agent = startAgent(['--config', config]);
    try {
      await waitFor('the listener', () => agent.output.stderr.includes('agent listener ready'), 15_000);
      const url = `http://127.0.0.1:${port}${route('seen/policy')}`;
      const get = () => fetch(url, { headers: { authorization: `Bearer ${f.listenerToken}` } });
      assert.equal((await get()).status, 200);
      await f.admin.iam.removeBinding(
        { ...instance, secret: 'seen/policy' },
        { role: accessor, member: f.member },
      );
      await waitFor('403', async () => (await get()).status === 403, 3_000);
    } finally {
      await stop(agent);
    }
  });
});
