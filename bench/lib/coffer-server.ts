import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type PinnedProcess, startPinned, waitForOk } from './server-process.ts';

/** A Coffer server started for a benchmark, with the first admin token. */
export interface CofferServer {
  readonly process: PinnedProcess;
  readonly baseUrl: string;
  readonly dataDir: string;
  readonly token: string;
  /** An authenticated JSON call; throws unless the status is `expect` (200 by default). */
  readonly call: <T>(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
    expect?: number,
  ) => Promise<T>;
  /** Stops the server (SIGTERM) and deletes its data dir (unless `keepData` was given). */
  readonly stop: () => Promise<void>;
}

/** Options for starting Coffer. */
export interface CofferStartOptions {
  /** The repository root (where bin/coffer.js is). */
  readonly repoDir: string;
  /** Where the data dir and the log go (a fresh directory is made inside). */
  readonly workDir: string;
  readonly serverCpu: number;
  /** Extra node flags, e.g. `--cpu-prof`. */
  readonly nodeFlags?: readonly string[];
  /** Extra environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Start on this existing data dir (a restart) instead of a fresh one inside `workDir`. */
  readonly dataDir?: string;
  /** Leave the data dir in place on `stop` (to restart on it later). */
  readonly keepData?: boolean;
  /**
   * The admin token to use instead of reading `root-token` (a second node on a shared PostgreSQL
   * database has none: the first node made it).
   */
  readonly token?: string;
}

/** Rate limits far above what one core can serve (a version without them ignores these). */
export const rateLimitsOff: Readonly<Record<string, string>> = {
  COFFER_RATE_LIMIT_PER_PRINCIPAL: '1000000',
  COFFER_RATE_LIMIT_PER_PRINCIPAL_BURST: '1000000',
  COFFER_RATE_LIMIT_PER_ADDRESS: '1000000',
  COFFER_RATE_LIMIT_PER_ADDRESS_BURST: '1000000',
};

/**
 * Starts `taskset -c <cpu> node bin/coffer.js server` on a fresh data dir and a free loopback port
 * (log level warn), waits until `GET /v2/health` answers 200, and reads the first admin token.
 */
export async function startCoffer(options: CofferStartOptions): Promise<CofferServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(options.workDir, 'coffer-data-'));
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const proc = startPinned(
    options.serverCpu,
    [process.execPath, ...(options.nodeFlags ?? []), 'bin/coffer.js', 'server'],
    {
      COFFER_DATA_DIR: dataDir,
      COFFER_LISTEN: `127.0.0.1:${port}`,
      COFFER_LOG_LEVEL: 'warn',
      // The per-principal and per-address rate limits (2,000 and 5,000 req/s by default) are a
      // policy, not a cost: one bench token would measure the limiter's 429s. The check still runs.
      ...rateLimitsOff,
      ...options.env,
    },
    `${dataDir}.log`,
    options.repoDir,
  );
  const cleanUp = async () => {
    await proc.stop();
    if (!options.keepData) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitForOk(`${baseUrl}/v2/health`, proc);
    const token = options.token ?? readFileSync(join(dataDir, 'root-token'), 'utf8').trim();
    const call = async <T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, expect = 200) => {
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await response.text();
      if (response.status !== expect) {
        throw new Error(`${method} ${path} answered ${response.status} (expected ${expect}): ${text}`);
      }
      return JSON.parse(text) as T;
    };
    return { process: proc, baseUrl, dataDir, token, call, stop: cleanUp };
  } catch (err) {
    await cleanUp();
    throw err;
  }
}

/** A fresh temporary directory for one benchmark run. */
export function makeWorkDir(): string {
  return mkdtempSync(join(tmpdir(), 'coffer-bench-'));
}
