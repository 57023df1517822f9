import type { Metric, Registry } from 'prom-client';

/**
 * Metric families whose hot-path operations are plain additions on preallocated cells.
 *
 * prom-client's own children rebuild a label hash string and validate the labels on every `inc` or
 * `observe` (an allocation per call): on a path that serves a request in tens of microseconds that
 * is measurable. Here a caller takes a cell once (per route, per sink) and keeps it; the registry
 * reads the cells at scrape time through `get()`, the one method prom-client's Registry calls to
 * format a metric, and prom-client formats the text as for its own metrics.
 */

/** One series of a counter. */
export class CounterCell {
  /** The running total. */
  value = 0;

  /** Adds `by` (1 by default). */
  inc(by = 1): void {
    this.value += by;
  }
}

/** One series of a histogram: counts per upper bound (cumulated at scrape), sum and count. */
export class HistogramCell {
  readonly #bounds: readonly number[];
  /** Observations per bucket, not cumulated; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one observation. */
  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

/** A sample as prom-client's Registry formats it. */
interface Sample {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName?: string;
}

/** What `Registry.getMetricsAsString` reads from a metric. */
interface MetricSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly values: Sample[];
  readonly aggregator: 'sum';
}

abstract class Family<C> {
  /** The series name (Prometheus conventions: `coffer_…`, counters end in `_total`). */
  readonly name: string;
  readonly help: string;
  readonly #labelNames: readonly string[];
  readonly #cells = new Map<string, { labels: Record<string, string>; cell: C }>();

  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.#labelNames = labelNames;
  }

  /** The cell of these label values (created at first use; take it once and keep it). */
  cell(...labelValues: string[]): C {
    if (labelValues.length !== this.#labelNames.length)
      throw new Error(`${this.name} takes ${this.#labelNames.length} label values`);
    const key = labelValues.join('\u0000');
    let entry = this.#cells.get(key);
    if (entry === undefined) {
      const labels: Record<string, string> = {};
      this.#labelNames.forEach((label, i) => (labels[label] = labelValues[i]!));
      entry = { labels, cell: this.create() };
      this.#cells.set(key, entry);
    }
    return entry.cell;
  }

  /** Registers this family in `registry` (prom-client formats it like its own metrics). */
  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Metric);
    return this;
  }

  protected abstract create(): C;

  protected entries(): IterableIterator<{ labels: Record<string, string>; cell: C }> {
    return this.#cells.values();
  }

  /** For `Registry.resetMetrics()`: forgets nothing (cells are held by their callers). */
  reset(): void {}
}

/** A counter family (`type counter`). */
export class CounterFamily extends Family<CounterCell> {
  protected create(): CounterCell {
    return new CounterCell();
  }

  /** The snapshot prom-client's Registry formats. */
  get(): MetricSnapshot {
    const values: Sample[] = [];
    for (const { labels, cell } of this.entries()) values.push({ value: cell.value, labels });
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' };
  }
}

/** A histogram family (`type histogram`) over fixed upper bounds. */
export class HistogramFamily extends Family<HistogramCell> {
  readonly #bounds: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], bounds: readonly number[]) {
    super(name, help, labelNames);
    this.#bounds = [...bounds].sort((a, b) => a - b);
  }

  protected create(): HistogramCell {
    return new HistogramCell(this.#bounds);
  }

  /** The snapshot prom-client's Registry formats: cumulative buckets, +Inf, sum and count. */
  get(): MetricSnapshot {
    const values: Sample[] = [];
    for (const { labels, cell } of this.entries()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += cell.counts[i]!;
        values.push({
          value: cumulative,
          labels: { ...labels, le: bound },
          metricName: `${this.name}_bucket`,
        });
      });
      values.push({
        value: cell.count,
        labels: { ...labels, le: '+Inf' },
        metricName: `${this.name}_bucket`,
      });
      values.push({ value: cell.sum, labels, metricName: `${this.name}_sum` });
      values.push({ value: cell.count, labels, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }
}

/** One value read at scrape time. */
export interface ScrapedValue {
  readonly labels?: Record<string, string>;
  readonly value: number;
}

/**
 * A counter or gauge whose values are read from the running node at scrape time (queue depths, the
 * seal state, totals a component keeps as plain numbers): nothing runs between scrapes.
 */
export class ScrapedFamily {
  readonly name: string;
  readonly help: string;
  readonly #type: 'counter' | 'gauge';
  readonly #read: () => readonly ScrapedValue[];

  constructor(name: string, help: string, type: 'counter' | 'gauge', read: () => readonly ScrapedValue[]) {
    this.name = name;
    this.help = help;
    this.#type = type;
    this.#read = read;
  }

  /** Registers this family in `registry`. */
  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Metric);
    return this;
  }

  /** The snapshot prom-client's Registry formats. */
  get(): MetricSnapshot {
    const values = this.#read().map((v) => ({ value: v.value, labels: v.labels ?? {} }));
    return { name: this.name, help: this.help, type: this.#type, values, aggregator: 'sum' };
  }

  /** For `Registry.resetMetrics()`: the values belong to the node. */
  reset(): void {}
}
