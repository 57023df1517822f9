import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pruneStatements } from '../src/storage/change-log.ts';
import { freePort } from './support/cli-process.ts';
import { startAgent, startAgentFixture, waitFor } from './support/agent-fixture.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';

test('coffer agent: a feed cursor pruned while it was away (410 gone) makes it resync and serve the new value', async () => {
  const f = await startAgentFixture();
  const target = new URL(f.node.url);
  const proxy = await startTcpProxy(target.hostname, Number(target.port));
  const port = await freePort();
  await f.secret('resync/x', 'before-prune');
  const config = f.config(
    'resync.yaml',
    `listen: 127.0.0.1:${port}\nlistenerTokenFile: ${f.listenerTokenFile}\n`,
    `http://127.0.0.1:${proxy.port}`,
  );
  const agent = startAgent(['--config', config]);
  try {
    await waitFor('the listener', () => agent.output.stderr.includes('agent listener ready'), 15_000);
    const url = `http://127.0.0.1:${port}/v2/projects/${f.projectId}/regions/local/instances/${f.instanceId}/secrets/resync%2Fx/value`;
    const value = async () => {
      const res = await fetch(url, { headers: { authorization: `Bearer ${f.listenerToken}` } });
      return res.status === 200 ? ((await res.json()) as { value: string }).value : `status ${res.status}`;
    };
    assert.equal(await value(), 'before-prune');

    // While the agent is cut off, the secret changes and retention prunes every numbered change,
    // that one included: the agent's cursor is now older than the feed, and only a resync can tell it.
    await proxy.cut();
    await f.put('resync/x', 'after-prune');
    await f.node.app.syncChanges();
    const { storage } = f.node.app;
    await storage.write(pruneStatements(storage.db, Date.now() + 60_000));
    await proxy.restore();

    await waitFor('the value after the resync', async () => (await value()) === 'after-prune', 20_000);
    assert.match(agent.output.stderr, /no longer holds the agent’s cursor/, 'it resynced (410 gone)');
    assert.doesNotMatch(agent.output.stderr + agent.output.stdout, /before-prune|after-prune|cfr_/);
  } finally {
    if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGTERM');
    await agent.done;
    await proxy.close();
    await f.destroy();
  }
});
