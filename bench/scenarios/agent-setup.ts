import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CofferServer } from '../lib/coffer-server.ts';
import { freePort, type PinnedProcess, startPinned, waitForOk } from '../lib/server-process.ts';
import { secretUrl } from './secrets-setup.ts';

/** A project the agent reads: an instance, a service account with a token, its secrets. */
export interface AgentProject {
  readonly projectId: string;
  readonly instanceId: string;
  /** `/v2/projects/{p}/regions/local/instances/{i}`. */
  readonly instancePath: string;
  /** The service account's API token (the agent's `auth.tokenFile` identity). */
  readonly accountToken: string;
  readonly paths: readonly string[];
}

/** A value of 32 random bytes, base64 (44 characters), as the secrets scenarios use. */
export const freshValue = (): string => randomBytes(32).toString('base64');

/**
 * Creates a project, an instance, a service account holding `secretAccessor` on the instance (and
 * an API token for it), and `paths` secrets with a first value each (16 in flight).
 */
export async function agentProject(server: CofferServer, paths: readonly string[]): Promise<AgentProject> {
  const project = await server.call<{ id: string }>('POST', '/v2/projects', {}, 201);
  const instance = await server.call<{ id: string }>(
    'POST',
    `/v2/projects/${project.id}/regions/local/instances`,
    { name: 'agent-bench' },
    201,
  );
  const instancePath = `/v2/projects/${project.id}/regions/local/instances/${instance.id}`;
  const account = await server.call<{ email: string }>(
    'POST',
    `/v2/projects/${project.id}/service-accounts`,
    { name: 'bench-agent' },
    201,
  );
  const accountPath = `/v2/projects/${project.id}/service-accounts/${encodeURIComponent(account.email)}`;
  const issued = await server.call<{ token: string }>('POST', `${accountPath}/tokens`, {}, 201);
  await server.call('POST', `${instancePath}/iam-policy:add-binding`, {
    role: 'roles/secretsmanager.secretAccessor',
    member: `serviceAccount:${account.email}`,
  });
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++]!;
      await server.call('POST', `${instancePath}/secrets`, { path, value: freshValue() }, 201);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, paths.length) }, worker));
  return {
    projectId: project.id,
    instanceId: instance.id,
    instancePath,
    accountToken: issued.token,
    paths,
  };
}

/** The listener's (and the server's) getSecretValue route of `path`. */
export function valueRoute(project: AgentProject, path: string): string {
  return `${secretUrl(project.instancePath, path)}/value`;
}

/** A running `coffer agent` with a TCP listener. */
export interface AgentProcess {
  readonly process: PinnedProcess;
  /** `http://127.0.0.1:PORT` of its listener. */
  readonly baseUrl: string;
  /** The listener token (send as `Authorization: Bearer`). */
  readonly listenerToken: string;
  readonly stop: () => Promise<void>;
}

/** Options of `startAgent`. */
export interface AgentStartOptions {
  readonly repoDir: string;
  /** A directory for the config, token files and the log (kept by the caller). */
  readonly dir: string;
  readonly cpu: number;
  /** The Coffer server the agent follows. */
  readonly server: string;
  readonly project: AgentProject;
  /** Extra YAML appended to the config (templates). */
  readonly extraYaml?: string;
}

/**
 * Writes an agent config (`auth.tokenFile` with the service account's token, a loopback listener
 * with a listener token, log level warn) and starts `taskset -c <cpu> node bin/coffer.js agent`;
 * resolves once its `/health` answers 200 (the templates, if any, are rendered by then).
 */
export async function startAgent(options: AgentStartOptions): Promise<AgentProcess> {
  const port = await freePort();
  const tokenFile = join(options.dir, 'agent-token');
  writeFileSync(tokenFile, `${options.project.accountToken}\n`, { mode: 0o600 });
  const listenerToken = randomBytes(24).toString('hex');
  const listenerTokenFile = join(options.dir, 'listener-token');
  writeFileSync(listenerTokenFile, listenerToken, { mode: 0o600 });
  const config = join(options.dir, 'agent.yaml');
  writeFileSync(
    config,
    [
      `server: ${options.server}`,
      `project: ${options.project.projectId}`,
      'region: local',
      `instance: ${options.project.instanceId}`,
      'auth:',
      `  tokenFile: ${tokenFile}`,
      `listen: 127.0.0.1:${port}`,
      `listenerTokenFile: ${listenerTokenFile}`,
      'logLevel: warn',
      options.extraYaml ?? '',
    ].join('\n'),
  );
  const proc = startPinned(
    options.cpu,
    [process.execPath, 'bin/coffer.js', 'agent', '--config', config],
    { COFFER_ADDR: '', COFFER_TOKEN: '' },
    join(options.dir, 'agent.log'),
    options.repoDir,
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitForOk(`${baseUrl}/health`, proc);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { process: proc, baseUrl, listenerToken, stop: () => proc.stop() };
}
