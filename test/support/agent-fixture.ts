import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CofferClient } from '../../src/sdk/index.ts';
import { cofferBin } from './cli-process.ts';
import { startTestNode, type TestNode } from './test-node.ts';

/** A running `coffer agent` child. */
export interface AgentProcess {
  readonly child: ChildProcess;
  /** What it wrote so far. */
  readonly output: { stdout: string; stderr: string };
  /** Resolves when it exited and its output closed. */
  readonly done: Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>;
}

// Agents still running when their fixture is destroyed (a failed test) are killed then.
const running = new Set<ChildProcess>();

/** Starts `coffer agent ARGS`. */
export function startAgent(args: readonly string[]): AgentProcess {
  const child = spawn(process.execPath, [cofferBin, 'agent', ...args], {
    env: { ...process.env, COFFER_ADDR: '', COFFER_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (output.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output.stderr += d.toString()));
  const done = once(child, 'close').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
    ...output,
  }));
  return { child, output, done };
}

/** Waits until `check` holds (polling every 20 ms), or throws after `timeoutMs` with `what`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A server with a project, an instance, secrets, and a service account that may read some of them. */
export interface AgentFixture {
  readonly node: TestNode;
  readonly admin: CofferClient;
  readonly projectId: string;
  readonly instanceId: string;
  /** A temp dir for configs and rendered files (removed by `destroy`). */
  readonly dir: string;
  /** A file holding the service account's token. */
  readonly tokenFile: string;
  /** A file holding a listener token. */
  readonly listenerTokenFile: string;
  readonly listenerToken: string;
  /** The service account's member name. */
  readonly member: string;
  readonly email: string;
  /** Creates a secret (optionally readable by the service account). */
  secret(path: string, value: string | Buffer, readable?: boolean): Promise<void>;
  /** Adds a version. */
  put(path: string, value: string | Buffer): Promise<void>;
  /**
   * Writes a YAML config (server, project, region, instance, auth filled in: the token file unless
   * `auth` gives another `auth:` block) and returns its path.
   */
  config(name: string, yaml: string, server?: string, auth?: string): string;
  destroy(): Promise<void>;
}

/** Starts the fixture: one in-process server, one service account with a token file. */
export async function startAgentFixture(): Promise<AgentFixture> {
  const node = await startTestNode();
  const dir = mkdtempSync(join(tmpdir(), 'coffer-agent-'));
  try {
    const admin = new CofferClient({ address: node.url, token: node.adminToken });
    const projectId = (await admin.projects.create({ displayName: 'agent' })).id;
    const instanceId = (
      await admin.secrets.createInstance({ projectId, regionId: 'local' }, { name: 'main' })
    ).id;
    const account = await admin.iam.createServiceAccount({ projectId }, { name: 'agent-reader' });
    const email = account.email;
    const member = `serviceAccount:${email}`;
    const issued = await admin.iam.createToken({ projectId, email });
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${issued.token}\n`, { mode: 0o600 });
    const listenerToken = 'listener-token-0123456789abcdef';
    const listenerTokenFile = join(dir, 'listener-token');
    writeFileSync(listenerTokenFile, listenerToken, { mode: 0o600 });
    const instance = { projectId, regionId: 'local', instanceId };
    const body = (value: string | Buffer) =>
      typeof value === 'string' ? { value } : { binaryValue: value.toString('base64') };
    return {
      node,
      admin,
      projectId,
      instanceId,
      dir,
      tokenFile,
      listenerTokenFile,
      listenerToken,
      member,
      email,
      async secret(path, value, readable = true) {
        await admin.secrets.createSecret(instance, { path, ...body(value) });
        if (readable)
          await admin.iam.addBinding(
            { ...instance, secret: path },
            { role: 'roles/secretsmanager.secretAccessor', member },
          );
      },
      async put(path, value) {
        await admin.secrets.putSecretValue({ ...instance, secret: path }, body(value));
      },
      config(name, yaml, server = node.url, auth = `auth:\n  tokenFile: ${tokenFile}\n`) {
        const file = join(dir, name);
        writeFileSync(
          file,
          `server: ${server}\nproject: ${projectId}\nregion: local\ninstance: ${instanceId}\n${auth}${yaml}`,
        );
        return file;
      },
      async destroy() {
        await Promise.all(
          [...running].map((child) => {
            const exited = once(child, 'exit');
            child.kill('SIGKILL');
            return exited;
          }),
        );
        await node.destroy();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await node.destroy();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
