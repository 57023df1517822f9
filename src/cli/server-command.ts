import { createApp } from '../app/app.ts';
import { SealStartError } from '../app/initialize.ts';
import { SealKeyFileError } from '../barrier/seal-key-file.ts';
import { systemClock } from '../core/clock.ts';
import type { Config } from '../core/config-schema.ts';
import { ConfigError, listenAddress, loadConfig } from '../core/config.ts';
import { CofferError } from '../core/errors.ts';
import { tuneHeap } from '../core/heap-tuning.ts';
import { createLogger } from '../core/logger.ts';
import { startMetricsListener, stopMetricsListener } from '../http/metrics-listener.ts';
import { buildServer } from '../http/server.ts';

/** Flags of `coffer server`. */
export interface ServerFlags {
  config?: string;
  listen?: string;
  dataDir?: string;
  insecurePlaintext?: boolean;
}

function fail(message: string, exitCode: number): never {
  process.stderr.write(`coffer: ${message}\n`);
  process.exit(exitCode);
}

/**
 * `coffer server`: loads config (exit 2 with one line naming the bad field), opens storage, starts the
 * seal, listens, and on SIGTERM/SIGINT drains in-flight requests and closes storage.
 */
export async function runServer(flags: ServerFlags): Promise<void> {
  let config: Config;
  const overrides: Partial<Config> = {};
  if (flags.listen !== undefined) overrides.listen = flags.listen;
  if (flags.dataDir !== undefined) overrides.dataDir = flags.dataDir;
  if (flags.insecurePlaintext) overrides.insecurePlaintext = true;
  try {
    config = loadConfig({ file: flags.config, env: process.env, flags: overrides });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
  const logger = createLogger(config.logLevel);
  let app: Awaited<ReturnType<typeof createApp>>;
  try {
    // The first initialization waits until the port is ours: a start that cannot listen leaves no
    // initialized store and no root-token behind.
    app = await createApp(config, logger, systemClock, { deferFirstInit: true });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    if (err instanceof CofferError || err instanceof SealStartError || err instanceof SealKeyFileError)
      fail(err.message, 1);
    throw err;
  }
  // Requests that arrive between listening and the end of the start wait for it.
  let markStarted = () => {};
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  let server: Awaited<ReturnType<typeof buildServer>>;
  try {
    server = await buildServer(app, { startGate: started });
    const { host, port } = listenAddress(config);
    await server.listen({ host, port });
  } catch (err) {
    await app.close();
    if (err instanceof ConfigError) fail(err.message, 2);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') fail(`cannot listen on ${config.listen}: the address is in use`, 1);
    if (code === 'EACCES' || code === 'EADDRNOTAVAIL') fail(`cannot listen on ${config.listen} (${code})`, 1);
    throw err;
  }
  // The optional unauthenticated metrics listener (metricsListen; docs/metrics.md).
  let metricsServer: Awaited<ReturnType<typeof startMetricsListener>>;
  try {
    metricsServer = await startMetricsListener(app);
  } catch (err) {
    await server.close().catch(() => undefined);
    await app.close().catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    fail(`cannot listen on ${config.metricsListen} (metricsListen: ${code})`, 1);
  }
  try {
    await app.finishStart();
    markStarted();
    // Bounds V8's young generation and old-space growth (peak memory under load); see heap-tuning.ts.
    tuneHeap();
  } catch (err) {
    // Not server.close(): it would wait for the requests held at the start gate. Exiting drops them.
    await app.close().catch(() => undefined);
    if (err instanceof CofferError || err instanceof SealStartError || err instanceof SealKeyFileError)
      fail(err.message, 1);
    throw err;
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    const timer = setTimeout(() => {
      logger.error('shutdown grace period elapsed; exiting');
      process.exit(1);
    }, config.shutdownGraceMs);
    timer.unref();
    try {
      await stopMetricsListener(metricsServer);
      await server.close();
      await app.close();
      logger.info('stopped');
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
