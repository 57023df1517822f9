import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { createLogger, type Logger } from '../core/logger.ts';
import { AgentCache, type CacheEntry, fetchErrorCode, isTransient } from './agent-cache.ts';
import { agentClient } from './agent-client.ts';
import { type AgentConfig, ConfigError, loadAgentConfig } from './agent-config.ts';
import { AgentListener } from './agent-listener.ts';
import { AgentMetrics } from './agent-metrics.ts';
import { ExecStartError, ExecSupervisor } from './exec-supervisor.ts';
import { jitteredBackoffMs } from './backoff.ts';
import { CacheRevalidator } from './cache-revalidator.ts';
import { FeedFollower } from './feed-follower.ts';
import { parseSecretReference, referenceKey, type SecretReference } from './secret-reference.ts';
import { parseTemplate } from './template-parser.ts';
import { TemplateRenderer } from './template-renderer.ts';

/** How `coffer agent` was started. */
export interface AgentOptions {
  readonly configFile: string;
  /** Render the templates once and exit. */
  readonly once: boolean;
  /** A command given after `--` (overrides exec.command). */
  readonly command: readonly string[];
}

/** The agent cannot go on; the CLI prints the message on one line and exits with `exitCode`. */
export class AgentFailure extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = 'AgentFailure';
    this.exitCode = exitCode;
  }
}

/** Retries `attempt` with jittered backoff while the server is unreachable; other errors pass. */
async function untilReachable<T>(what: string, logger: Logger, attempt: () => Promise<T>): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isTransient(err)) throw err;
      const code = fetchErrorCode(err);
      const waitMs = Math.max(100, jitteredBackoffMs(failures, 250, 10_000));
      logger.warn(
        { code, retryInMs: Math.round(waitMs) },
        `${what}: the Coffer server is not answering; retrying`,
      );
      await delay(waitMs);
    }
  }
}

function execArgv(config: AgentConfig, options: AgentOptions): readonly string[] | undefined {
  if (options.command.length > 0) return options.command;
  if (!config.exec) return undefined;
  if (!config.exec.command)
    throw new ConfigError('exec.command', 'is required (or give the command after --)');
  return config.exec.command;
}

/** The variables of exec mode, from cached values; a binary value or a NUL byte is refused. */
async function execEnvironment(
  config: AgentConfig,
  cache: AgentCache,
  resolve: (reference: string) => SecretReference,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const [name, reference] of Object.entries(config.exec?.env ?? {})) {
    let entry: CacheEntry;
    try {
      entry = await cache.get(resolve(reference));
    } catch (err) {
      if (isTransient(err)) throw err;
      throw new AgentFailure(
        `exec.env.${name}: secret ${reference} cannot be read: ${(err as Error).message}`,
        1,
      );
    }
    if (entry.view.value === undefined)
      throw new AgentFailure(
        `exec.env.${name}: secret ${reference} is binary; an environment variable holds text only (render it to a file with a template instead)`,
        1,
      );
    if (entry.view.value.includes('\u0000'))
      throw new AgentFailure(
        `exec.env.${name}: secret ${reference} holds a NUL byte; it cannot go in a variable`,
        1,
      );
    env[name] = entry.view.value;
  }
  return env;
}

/**
 * Runs `coffer agent`: validates the config and templates (exit 2 on a bad field or template), reads
 * every value the templates and exec need (waiting, with backoff, while the server is away; nothing
 * is written before all are read), renders the templates, then — unless `once` — serves the local
 * listener, follows the change feed and supervises the exec command. Resolves with the exit code.
 */
export async function runAgent(options: AgentOptions): Promise<number> {
  const config = loadAgentConfig(options.configFile);
  const templates = config.templates.map(parseTemplate);
  const argv = options.once ? undefined : execArgv(config, options);
  if (!options.once && templates.length === 0 && !argv && !config.listen)
    throw new ConfigError('config', 'gives the agent nothing to do: add templates, exec or listen');
  const logger = createLogger(config.logLevel, process.stderr).child({ component: 'agent' });
  const client = agentClient(config);
  const metrics = new AgentMetrics();
  const cache = new AgentCache({ client, projectId: config.project, metrics, logger });
  metrics.staleSeconds = () => Math.floor(cache.maxStaleMs() / 1000);
  metrics.cachedEntries = () => cache.size;
  metrics.feedConnected = () => cache.current;
  const resolve = (reference: string): SecretReference => ({
    regionId: config.region,
    instanceId: config.instance,
    ...parseSecretReference(reference),
  });
  const renderer = new TemplateRenderer({ templates, cache, resolve, metrics, logger });
  metrics.outputsKept = () => renderer.kept;
  const follower = options.once
    ? undefined
    : new FeedFollower({
        projectId: config.project,
        open: (after, signal, onDrop) =>
          client.changes.stream({ projectId: config.project }, { after, signal, onReconnect: onDrop }),
        latest: async (signal) =>
          (await client.changes.list({ projectId: config.project }, { after: 'latest' }, { signal }))
            .nextCursor,
        probe: async (signal) => void (await client.health({ signal, maxAttempts: 1 })),
        probeIntervalMs: Math.max(200, Math.min(5_000, config.maxStaleMs / 4)),
        cache,
        metrics,
        logger,
      });

  // Where the feed stands before the values are read: no change made after it can be missed.
  const cursor = follower
    ? await untilReachable('reading the change feed', logger, () => follower.latest())
    : undefined;
  await untilReachable('reading the templates’ secrets', logger, () => renderer.prefetch());
  const environment = () => execEnvironment(config, cache, resolve);
  if (argv) await untilReachable('reading exec.env', logger, environment);
  if (follower && cursor !== undefined) follower.start(cursor);
  const execRefs = Object.entries(config.exec?.env ?? {}).map(([name, reference]) => ({
    name,
    reference,
    ref: resolve(reference),
  }));
  const revalidator = options.once
    ? undefined
    : new CacheRevalidator({
        cache,
        intervalMs: config.revalidateMs,
        wanted: () => [...renderer.references(), ...execRefs.map((e) => e.ref)],
        metrics,
        logger,
      });
  revalidator?.start();

  const outcomes = await renderer.renderAll();
  const failed = outcomes.filter((o) => o.error !== undefined);
  if (options.once) {
    for (const o of failed) process.stderr.write(`coffer: ${o.error}\n`);
    logger.info(
      { rendered: outcomes.length - failed.length, failed: failed.length },
      'templates rendered once',
    );
    return failed.length > 0 ? 1 : 0;
  }

  const listener = config.listen
    ? new AgentListener({
        listen: config.listen,
        projectId: config.project,
        cache,
        metrics,
        maxStaleMs: config.maxStaleMs,
        logger,
      })
    : undefined;
  if (listener) logger.info({ listen: await listener.start() }, 'agent listener ready');
  renderer.watch();

  let supervisor: ExecSupervisor | undefined;
  if (argv) {
    supervisor = new ExecSupervisor({
      argv,
      onChange: config.exec?.onChange ?? 'restart',
      graceMs: config.exec?.graceMs ?? 10_000,
      environment,
      logger,
      metrics,
    });
    // Variables whose secret can no longer be read: the command keeps running with its last values,
    // and is not restarted (it would start without them) until they can be read again.
    const kept = new Set<string>();
    metrics.outputsKept = () => renderer.kept + kept.size;
    const changed = () => {
      if (kept.size === 0) supervisor?.changed();
      else
        logger.warn(
          { variables: [...kept] },
          'a secret changed; the command is not restarted while exec.env variables cannot be read',
        );
    };
    cache.onChange((entry, key) => {
      const affected = execRefs.filter((e) => referenceKey(e.ref) === key);
      if (affected.length === 0) return;
      for (const { name, reference } of affected) {
        if (entry !== undefined) kept.delete(name);
        else {
          kept.add(name);
          logger.error(
            { variable: name, secret: reference },
            'a secret in exec.env can no longer be read (denied or gone); the command keeps running with its last value',
          );
        }
      }
      if (entry !== undefined) changed();
    });
    renderer.onRendered((outcome) => {
      if (outcome.written) changed();
    });
    try {
      await supervisor.start();
    } catch (err) {
      revalidator?.stop();
      await Promise.all([listener?.close(), follower?.stop()]);
      if (err instanceof ExecStartError) throw new AgentFailure(err.message, err.exitCode);
      throw err;
    }
  }

  const stopSignals = ['SIGINT', 'SIGTERM'] as const;
  const ended = supervisor
    ? supervisor.exited
    : Promise.race(stopSignals.map(async (signal) => (await once(process, signal), 0)));
  let code: number;
  try {
    code = await ended;
  } catch (err) {
    // The command could not be started again after a change.
    code = err instanceof ExecStartError ? err.exitCode : 1;
    logger.error({ reason: (err as Error).message }, 'the command could not be restarted');
  }
  supervisor?.detach();
  cache.close();
  revalidator?.stop();
  await Promise.all([listener?.close(), follower?.stop(), renderer.idle()]);
  logger.info({ exitCode: code }, 'agent stopped');
  return code;
}
