import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The agent's Prometheus series. Hot-path counts (hits, misses) are plain numbers read when
 * `/metrics` is scraped, so a cached read pays no label hashing. Labels never carry a value, a token
 * or a secret path (only error codes and fixed words).
 */
export class AgentMetrics {
  /** Cached reads answered from the cache. */
  hits = 0;
  /** Reads that had to fetch from the server. */
  misses = 0;
  /** Seconds since the agent last knew its cache was current (0 while the feed is connected). */
  staleSeconds: () => number = () => 0;
  /** How many entries the cache holds. */
  cachedEntries: () => number = () => 0;
  /** Whether the change feed is connected. */
  feedConnected: () => boolean = () => false;
  /** Templates and exec variables that keep their last output from a secret that can no longer be read. */
  outputsKept: () => number = () => 0;
  readonly registry = new Registry();
  readonly fetchSeconds: Histogram;
  readonly fetchErrors: Counter<'code'>;
  readonly dropped: Counter<'code'>;
  readonly revalidations: Counter;
  readonly renders: Counter;
  readonly renderErrors: Counter;
  readonly commandFailures: Counter;
  readonly feedEvents: Counter;
  readonly feedReconnects: Counter;
  readonly feedLagSeconds: Gauge;
  readonly authFailures: Counter;
  readonly execRestarts: Counter;

  constructor() {
    const registers = [this.registry];
    const read = (name: string, help: string, value: () => number, type: 'counter' | 'gauge') => {
      if (type === 'gauge')
        return new Gauge({
          name,
          help,
          registers,
          collect() {
            this.set(value());
          },
        });
      return new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value());
        },
      });
    };
    read('coffer_agent_cache_hits_total', 'Reads answered from the cache', () => this.hits, 'counter');
    read(
      'coffer_agent_cache_misses_total',
      'Reads that fetched from the server',
      () => this.misses,
      'counter',
    );
    read(
      'coffer_agent_cache_hit_ratio',
      'hits / (hits + misses) since start',
      () => (this.hits + this.misses === 0 ? 0 : this.hits / (this.hits + this.misses)),
      'gauge',
    );
    read(
      'coffer_agent_stale_seconds',
      'Seconds since the cache was last known current (0 while the feed is connected)',
      () => this.staleSeconds(),
      'gauge',
    );
    read(
      'coffer_agent_cache_entries',
      'Secret values held in the cache',
      () => this.cachedEntries(),
      'gauge',
    );
    read(
      'coffer_agent_feed_connected',
      '1 while the change feed is connected',
      () => Number(this.feedConnected()),
      'gauge',
    );
    read(
      'coffer_agent_outputs_kept',
      'Templates and exec variables keeping their last output from a secret that can no longer be read',
      () => this.outputsKept(),
      'gauge',
    );
    this.fetchSeconds = new Histogram({
      name: 'coffer_agent_fetch_duration_seconds',
      help: 'Time to fetch one secret value from the server',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.fetchErrors = new Counter({
      name: 'coffer_agent_fetch_errors_total',
      help: 'Fetches that failed, by error code',
      labelNames: ['code'],
      registers,
    });
    this.dropped = new Counter({
      name: 'coffer_agent_cache_dropped_total',
      help: 'Cached values dropped because the server now refuses them (permission_denied, not_found, failed_precondition)',
      labelNames: ['code'],
      registers,
    });
    this.revalidations = new Counter({
      name: 'coffer_agent_revalidations_total',
      help: 'Cached values fetched again by the periodic revalidation (cache.revalidate)',
      registers,
    });
    this.renders = new Counter({
      name: 'coffer_agent_renders_total',
      help: 'Template files written',
      registers,
    });
    this.renderErrors = new Counter({
      name: 'coffer_agent_render_errors_total',
      help: 'Template renders or writes that failed',
      registers,
    });
    this.commandFailures = new Counter({
      name: 'coffer_agent_template_command_failures_total',
      help: 'Template commands that failed or timed out',
      registers,
    });
    this.feedEvents = new Counter({
      name: 'coffer_agent_feed_events_total',
      help: 'Change events received',
      registers,
    });
    this.feedReconnects = new Counter({
      name: 'coffer_agent_feed_reconnects_total',
      help: 'Change feed reconnections',
      registers,
    });
    this.feedLagSeconds = new Gauge({
      name: 'coffer_agent_feed_lag_seconds',
      help: 'Delay between a change on the server and its arrival at the agent (last event)',
      registers,
    });
    this.authFailures = new Counter({
      name: 'coffer_agent_auth_failures_total',
      help: 'Requests the server refused as unauthenticated (a bad, expired or disabled credential)',
      registers,
    });
    this.execRestarts = new Counter({
      name: 'coffer_agent_exec_restarts_total',
      help: 'Restarts of the exec child after a change',
      registers,
    });
  }
}
