import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { type App, createApp } from '../../src/app/app.ts';
import { type Clock, systemClock } from '../../src/core/clock.ts';
import { loadConfig } from '../../src/core/config.ts';
import { createLogger } from '../../src/core/logger.ts';
import { buildServer } from '../../src/http/server.ts';

/** A Coffer node started in-process on a random loopback port, with its own data dir. */
export interface TestNode {
  readonly app: App;
  readonly server: FastifyInstance;
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly dataDir: string;
  /** Every log line the node wrote. */
  readonly logLines: string[];
  /** The first admin token (file seal), read from <dataDir>/root-token. */
  readonly adminToken: string | undefined;
  /** Stops the server and closes storage (keeps the data dir). */
  stop(): Promise<void>;
  /** Stops and removes the data dir. */
  destroy(): Promise<void>;
}

/** Options of a test node. */
export interface TestNodeOptions {
  /** COFFER_* variables (COFFER_DATABASE_URL selects PostgreSQL). */
  readonly env?: Record<string, string>;
  /** Reuse a data dir (a restart). */
  readonly dataDir?: string;
  readonly clock?: Clock;
}

/** Starts a node listening on 127.0.0.1 on a free port. */
export async function startTestNode(options: TestNodeOptions = {}): Promise<TestNode> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'coffer-node-'));
  const logLines: string[] = [];
  let app: App | undefined;
  let server: FastifyInstance | undefined;
  try {
    const config = loadConfig({
      env: {
        COFFER_LOG_LEVEL: 'info',
        ...options.env,
        COFFER_DATA_DIR: dataDir,
        COFFER_LISTEN: '127.0.0.1:0',
      },
    });
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    const logger = createLogger(config.logLevel, sink);
    app = await createApp(config, logger, options.clock ?? systemClock);
    server = await buildServer(app);
    await server.listen({ host: '127.0.0.1', port: 0 });
  } catch (err) {
    // A node that did not start leaves nothing behind: not its storage, not a data dir it made.
    await server?.close().catch(() => undefined);
    await app?.close().catch(() => undefined);
    if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const started = app;
  const listening = server;
  const address = listening.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  let adminToken: string | undefined;
  try {
    adminToken = readFileSync(join(dataDir, 'root-token'), 'utf8').trim();
  } catch {
    adminToken = undefined;
  }
  const stop = async () => {
    await listening.close();
    await started.close();
  };
  return {
    app: started,
    server: listening,
    url: `http://127.0.0.1:${address.port}`,
    dataDir,
    logLines,
    adminToken,
    stop,
    async destroy() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts several nodes at once (racing each other, as a cluster's nodes do). If one fails to start,
 * the others are stopped before the error is thrown: a node left running would keep the test
 * process alive forever.
 */
export async function startTestNodes(options: readonly TestNodeOptions[]): Promise<TestNode[]> {
  const settled = await Promise.allSettled(options.map((o) => startTestNode(o)));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed === undefined) return settled.map((s) => (s as PromiseFulfilledResult<TestNode>).value);
  await Promise.allSettled(
    settled.map((s) => (s.status === 'fulfilled' ? s.value.destroy() : Promise.resolve())),
  );
  throw failed.reason;
}

/** A fetch that sends JSON and returns status, headers and parsed body. */
export async function call(
  url: string,
  method: string,
  path: string,
  options: {
    token?: string | undefined;
    body?: unknown;
    headers?: Record<string, string>;
    rawBody?: string;
  } = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers field by field
): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: response.status, headers: response.headers, body: parsed };
}
