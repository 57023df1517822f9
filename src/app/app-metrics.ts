import { collectDefaultMetrics, type Metric, Registry } from 'prom-client';
import type { AuditLog } from '../audit/audit-log.ts';
import type { AuditSinkRunner } from '../audit/audit-sinks.ts';
import type { Barrier } from '../barrier/barrier.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { TokenService } from '../iam/token-service.ts';
import type { DataKeyCache } from '../secrets/data-key-cache.ts';
import type { KmsMetadataCache } from '../kms/kms-metadata-cache.ts';
import type { SecretMetadataCache } from '../secrets/secret-metadata-cache.ts';
import type { ChangeFeedFollower } from '../storage/change-feed-follower.ts';
import type { Storage } from '../storage/storage-types.ts';
import type { QueryObserver, StorageWriteObserver } from '../storage/timed-storage.ts';
import { CounterFamily, HistogramFamily, ScrapedFamily, type ScrapedValue } from './metric-families.ts';
import { RequestMetrics } from './request-metrics.ts';
import { rotationMetrics } from './rotation-metrics.ts';
import type { RotationObserver } from '../rotation/rotation-types.ts';
import { version } from './version.ts';

/** Upper bounds (seconds) of the storage and audit histograms (a point read ≈10 µs, an fsync ≈0.4 ms). */
export const storageBucketsSeconds = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
  0.5, 1, 2.5, 5,
] as const;

/** Upper bounds of the audit group-commit size histogram (events per durable write). */
export const batchSizeBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000] as const;

/** Change types are the server's own names (docs/changes.md); this bounds the label all the same. */
const maxChangeTypes = 64;
const changeTypePattern = /^[a-z_]+\.[a-z_]+$/;

/**
 * prom-client's gauges named like counters (`promtool check metrics` refuses them); the same counts
 * are there without the suffix (`nodejs_active_handles`…).
 */
const lintFailing = new Set([
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
]);

let processRegistry: Registry | undefined;

/**
 * The process's metrics (CPU, memory, heap, event loop lag, GC, handles), collected once per process
 * and shared by every app's registry: prom-client's collectors install GC and event-loop observers
 * that are never removed, and tests build many apps in one process. They describe the process, not
 * an app, so one set is also the right answer. Unprefixed (`process_*`, `nodejs_*`), as dashboards
 * for Node services expect.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** What the scraped series read from the running node. */
export interface MetricSources {
  readonly storage: Storage;
  readonly barrier: Barrier;
  readonly audit: AuditLog;
  readonly auditSinks: AuditSinkRunner;
  readonly changeFollower: ChangeFeedFollower;
  readonly secretCache: SecretMetadataCache;
  readonly kmsCache: KmsMetadataCache;
  /** Unwrapped data keys (hits: a reveal that skipped the unwrap). */
  readonly dataKeys: DataKeyCache;
  readonly tokens: TokenService;
  readonly authorizer: Authorizer;
}

/**
 * One app's metrics (docs/metrics.md): its own registry (never prom-client's global one: tests run
 * many apps in one process), the request metrics the HTTP layer feeds, the storage write observer,
 * and, once the app is wired (`watch`), the series read from its parts at scrape time. Hot paths
 * only add to preallocated cells (metric-families.ts); everything else is computed when scraped.
 */
export class AppMetrics {
  /** The registry `GET /v2/sys/metrics` and the metrics listener serve. */
  readonly registry = new Registry();
  /** Requests by route, refusals and errors (fed by the HTTP layer). */
  readonly requests: RequestMetrics;
  /** Storage write units: duration and outcome (storage is wrapped with `withWriteTiming`). */
  readonly storageWrites: StorageWriteObserver;
  /** Storage reads (queries through `storage.db`): duration and failures. */
  readonly storageReads: QueryObserver;
  /** Rotation steps and runs (M4, M10; see rotation-metrics.ts). */
  readonly rotations: RotationObserver;
  #unwatch: (() => void) | undefined;

  constructor() {
    // getMetricsAsArray is typed as plain objects; they are the Metric instances themselves.
    for (const metric of processMetrics().getMetricsAsArray())
      if (!lintFailing.has(metric.name)) this.registry.registerMetric(metric as unknown as Metric);
    this.requests = new RequestMetrics(this.registry);
    this.rotations = rotationMetrics(this.registry);
    const writeSeconds = new HistogramFamily(
      'coffer_storage_write_duration_seconds',
      'Time a write unit took, queueing for the group commit included.',
      [],
      storageBucketsSeconds,
    )
      .register(this.registry)
      .cell();
    const outcomes = new CounterFamily(
      'coffer_storage_writes_total',
      'Write units by outcome: ok, rejected (a conflict, nothing written) or failed (storage unavailable or timed out).',
      ['outcome'],
    ).register(this.registry);
    const byOutcome = {
      ok: outcomes.cell('ok'),
      rejected: outcomes.cell('rejected'),
      failed: outcomes.cell('failed'),
    };
    const readSeconds = new HistogramFamily(
      'coffer_storage_read_duration_seconds',
      'Time a read query took (queries through the query builder; cache hits make none).',
      [],
      storageBucketsSeconds,
    )
      .register(this.registry)
      .cell();
    const readErrors = new CounterFamily(
      'coffer_storage_read_errors_total',
      'Read queries that failed (storage unavailable, or an error of the database).',
      [],
    )
      .register(this.registry)
      .cell();
    this.storageReads = (seconds, failed) => {
      readSeconds.observe(seconds);
      if (failed) readErrors.inc();
    };
    this.storageWrites = {
      written(seconds, outcome) {
        writeSeconds.observe(seconds);
        byOutcome[outcome].inc();
      },
    };
  }

  /** The Prometheus text exposition of every series. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The content type of `text()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Adds the series read from the wired app's parts, and follows its audit writes and changes. */
  watch(sources: MetricSources): void {
    const r = this.registry;
    const flag = (on: boolean): ScrapedValue[] => [{ value: on ? 1 : 0 }];
    new ScrapedFamily('coffer_info', 'Always 1; labels name the version and storage engine.', 'gauge', () => [
      { labels: { version, engine: sources.storage.engine }, value: 1 },
    ]).register(r);
    new ScrapedFamily('coffer_sealed', '1 while this node is sealed.', 'gauge', () =>
      flag(sources.barrier.sealed),
    ).register(r);
    new ScrapedFamily('coffer_storage_failing', '1 while recent storage writes fail.', 'gauge', () =>
      flag(sources.storage.health?.() === 'failing'),
    ).register(r);
    this.#watchAudit(sources);
    this.#watchCaches(sources);
    this.#unwatch = this.#watchChanges(sources.changeFollower);
  }

  /** Stops following the change feed. */
  close(): void {
    this.#unwatch?.();
  }

  #watchAudit({ audit, auditSinks }: MetricSources): void {
    const r = this.registry;
    const seconds = new HistogramFamily(
      'coffer_audit_write_duration_seconds',
      'Time to make one group commit of audit events durable (M7).',
      [],
      storageBucketsSeconds,
    )
      .register(r)
      .cell();
    const size = new HistogramFamily(
      'coffer_audit_batch_events',
      'Audit events per group commit (M7).',
      [],
      batchSizeBuckets,
    )
      .register(r)
      .cell();
    const written = new CounterFamily('coffer_audit_events_written_total', 'Audit events made durable.', [])
      .register(r)
      .cell();
    const failed = new CounterFamily(
      'coffer_audit_write_failures_total',
      'Group commits of audit events that failed or timed out (their requests were refused) (M7).',
      [],
    )
      .register(r)
      .cell();
    audit.observeWrites({
      batchWritten(events, duration, ok) {
        seconds.observe(duration);
        if (ok) {
          if (events > 0) size.observe(events);
          written.inc(events);
        } else failed.inc();
      },
    });
    new ScrapedFamily(
      'coffer_audit_queue_depth',
      'Audit appends waiting for the next group commit (M7).',
      'gauge',
      () => [{ value: audit.queued }],
    ).register(r);
    new ScrapedFamily('coffer_audit_failing', '1 while the last audit group commit failed.', 'gauge', () => [
      { value: audit.failing ? 1 : 0 },
    ]).register(r);
    const sinks = () => auditSinks.status();
    new ScrapedFamily(
      'coffer_audit_sink_delivered_events_total',
      'Audit events delivered to each sink by this node (M7).',
      'counter',
      () => sinks().map((s) => ({ labels: { sink: s.name }, value: s.delivered })),
    ).register(r);
    new ScrapedFamily(
      'coffer_audit_sink_pending_events',
      'Audit events written but not yet delivered to each sink, as of the last delivery pass (M7).',
      'gauge',
      () => sinks().map((s) => ({ labels: { sink: s.name }, value: s.pending })),
    ).register(r);
    new ScrapedFamily(
      'coffer_audit_sink_delivery_lag_seconds',
      'Age of the oldest event of the last batch delivered to each sink, when delivered (M7).',
      'gauge',
      () =>
        sinks().flatMap((s) =>
          s.lastDelayMs === null ? [] : [{ labels: { sink: s.name }, value: s.lastDelayMs / 1000 }],
        ),
    ).register(r);
    new ScrapedFamily(
      'coffer_audit_sink_last_delivery_timestamp_seconds',
      'When this node last delivered a batch to each sink (Unix time) (M7).',
      'gauge',
      () =>
        sinks().flatMap((s) =>
          s.lastDeliveryTime === null ? [] : [{ labels: { sink: s.name }, value: s.lastDeliveryTime / 1000 }],
        ),
    ).register(r);
    new ScrapedFamily(
      'coffer_audit_sink_failures_total',
      'Failed delivery passes per sink on this node (each retried with backoff) (M7).',
      'counter',
      () => auditSinks.failureCounts().map((s) => ({ labels: { sink: s.name }, value: s.failures })),
    ).register(r);
  }

  #watchCaches({ secretCache, kmsCache, dataKeys, tokens, authorizer }: MetricSources): void {
    const caches = [
      ['secret_metadata', secretCache],
      ['kms_metadata', kmsCache],
    ] as const;
    const counted = [
      ...caches,
      ['data_key', dataKeys],
      ['token', tokens],
      ['authorization', authorizer],
    ] as const;
    new ScrapedFamily(
      'coffer_cache_requests_total',
      'Lookups of the server’s caches (metadata, tokens, authorization) by result (hit: answered from memory; miss: read from storage).',
      'counter',
      () =>
        counted.flatMap(([cache, c]) => [
          { labels: { cache, result: 'hit' }, value: c.counts.hits },
          { labels: { cache, result: 'miss' }, value: c.counts.misses },
        ]),
    ).register(this.registry);
    new ScrapedFamily('coffer_cache_entries', 'Entries each metadata cache holds.', 'gauge', () =>
      caches.map(([cache, c]) => ({ labels: { cache }, value: c.size.entries })),
    ).register(this.registry);
    new ScrapedFamily('coffer_cache_bytes', 'Approximate bytes each metadata cache holds.', 'gauge', () =>
      caches.map(([cache, c]) => ({ labels: { cache }, value: c.size.bytes })),
    ).register(this.registry);
  }

  #watchChanges(follower: ChangeFeedFollower): () => void {
    const changes = new CounterFamily(
      'coffer_changes_total',
      'Changes seen on the change feed, by type (M8); every node sees every change of the cluster.',
      ['type'],
    ).register(this.registry);
    const cells = new Map<string, ReturnType<CounterFamily['cell']>>();
    return follower.subscribe({
      onChanges(rows) {
        for (const row of rows) {
          let cell = cells.get(row.type);
          if (cell === undefined) {
            const known = changeTypePattern.test(row.type) && cells.size < maxChangeTypes;
            cell = changes.cell(known ? row.type : 'other');
            if (known) cells.set(row.type, cell);
          }
          cell.inc();
        }
      },
    });
  }
}
