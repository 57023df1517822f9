import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startCoffer } from '../lib/coffer-server.ts';
import { fmt } from '../lib/table.ts';
import type { RequestSpec } from '../lib/wrk.ts';
import { agentProject, startAgent, valueRoute } from './agent-setup.ts';
import type { PreparedScenario, Scenario } from './scenario.ts';
import { peakRss } from './secrets-setup.ts';

/** Secrets the reads spread over (all cached by the agent before the rounds). */
const cachedSecrets = 100;
const candidateName = 'agent listener (cached)';

/** `coffer_agent_cache_hits_total` and `_misses_total` from the agent's /metrics. */
async function cacheCounters(baseUrl: string): Promise<{ hits: number; misses: number }> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { hits: value('coffer_agent_cache_hits_total'), misses: value('coffer_agent_cache_misses_total') };
}

/**
 * Issue 13's listener target: `coffer agent` (an `auth.tokenFile` identity) pinned to the server CPU
 * serves getSecretValue from its cache through its local listener, 100 secrets at random, with the
 * listener token, against the bare node:http server. The Coffer server that fills the cache runs
 * on the load CPU and idles during the rounds (it only keeps the agent's change stream open).
 */
export const agentScenario: Scenario = {
  name: 'agent',
  description: 'coffer agent listener: cached getSecretValue (100 secrets, listener token) vs bare node:http',
  inDefaultRun: false,
  defaultConnections: [1, 16, 64],
  targetRatio: 0.5,
  targetCandidate: candidateName,
  async prepare(ctx): Promise<PreparedScenario> {
    const server = await startCoffer({ repoDir: ctx.repoDir, workDir: ctx.workDir, serverCpu: ctx.loadCpu });
    const dir = mkdtempSync(join(ctx.workDir, 'agent-'));
    const closeAll: (() => Promise<void>)[] = [
      async () => {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    ];
    const close = async () => {
      for (const step of closeAll.reverse()) await step();
    };
    try {
      const paths = Array.from({ length: cachedSecrets }, (_, i) => `agent/s-${String(i).padStart(3, '0')}`);
      const project = await agentProject(server, paths);
      const agent = await startAgent({
        repoDir: ctx.repoDir,
        dir,
        cpu: ctx.serverCpu,
        server: server.baseUrl,
        project,
      });
      closeAll.push(() => agent.stop());
      const headers = { authorization: `Bearer ${agent.listenerToken}` };
      // Fill the cache (one miss each) and check every answer against the server's.
      for (const path of paths) {
        const route = valueRoute(project, path);
        const [viaAgent, viaServer] = await Promise.all([
          fetch(`${agent.baseUrl}${route}`, { headers }).then((r) => r.json() as Promise<{ value: string }>),
          fetch(`${server.baseUrl}${route}`, { headers: { authorization: `Bearer ${server.token}` } }).then(
            (r) => r.json() as Promise<{ value: string }>,
          ),
        ]);
        if (viaAgent.value === undefined || viaAgent.value !== viaServer.value)
          throw new Error(`the agent answered ${JSON.stringify(viaAgent)} for ${path}`);
      }
      const filled = await cacheCounters(agent.baseUrl);
      ctx.log(
        `  agent cache filled: ${filled.misses} misses; agent pid ${agent.process.pid} on CPU ${ctx.serverCpu}`,
      );
      const sample = await fetch(`${agent.baseUrl}${valueRoute(project, paths[0]!)}`, { headers });
      const bodyBytes = (await sample.arrayBuffer()).byteLength;
      const request: RequestSpec = {
        method: 'GET',
        path: valueRoute(project, paths[0]!),
        headers,
        variants: paths.map((path) => ({ path: valueRoute(project, path) })),
      };
      return {
        // The same spread of paths (and the Lua request() hook's cost) on the bare server.
        baselineRequest: { ...request, variants: paths.map((_, i) => ({ path: `/${i}` })) },
        candidates: [{ name: candidateName, baseUrl: agent.baseUrl, pid: agent.process.pid, request }],
        close,
        async report() {
          const counters = await cacheCounters(agent.baseUrl);
          return [
            `agent answer: ${bodyBytes} bytes of JSON (the baseline answers 300); cache after the rounds: ` +
              `${fmt(counters.hits)} hits, ${fmt(counters.misses)} misses (${filled.misses} before the rounds: ` +
              `${counters.misses === filled.misses ? 'every measured read was a hit' : 'SOME READS MISSED'})`,
            `agent peak RSS (VmHWM) ${fmt(peakRss(agent.process.pid) / 1024 / 1024)} MB`,
          ].join('\n');
        },
      };
    } catch (err) {
      await close();
      throw err;
    }
  },
};
