import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, type PinnedProcess, startPinned, waitForOk } from './server-process.ts';

/** One of bench/'s own servers (bare baseline, Fastify variant), pinned and listening. */
export interface BenchServer {
  readonly process: PinnedProcess;
  readonly baseUrl: string;
  readonly stop: () => Promise<void>;
}

/**
 * Starts `taskset -c <cpu> node <script>` with `BENCH_PORT` set to a free port and waits until
 * `GET /` answers 200.
 */
export async function startBenchServer(
  script: string,
  cpu: number,
  workDir: string,
  cwd: string,
): Promise<BenchServer> {
  const port = await freePort();
  const logFile = join(workDir, `${script.replace(/\W+/g, '-')}-${port}.log`);
  const proc = startPinned(cpu, [process.execPath, script], { BENCH_PORT: String(port) }, logFile, cwd);
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await proc.stop();
    rmSync(logFile, { force: true });
  };
  try {
    await waitForOk(`${baseUrl}/`, proc);
  } catch (err) {
    await stop();
    throw err;
  }
  return { process: proc, baseUrl, stop };
}
