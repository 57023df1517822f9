import type { Registry } from 'prom-client';
import { CounterFamily, type CounterCell, HistogramFamily, type HistogramCell } from './metric-families.ts';

/** Upper bounds (seconds) of the request latency histogram: Coffer answers in well under 1 ms warm. */
export const latencyBucketsSeconds = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

/** The route label of a request that matched no route (404 for an unknown URL). */
export const unmatchedRoute = 'unmatched';

/** Why a request was refused before it could do anything (`coffer_http_denied_total{reason}`). */
export type DenialReason = 'unauthenticated' | 'permission_denied' | 'rate_limited';

const denialReasons: readonly DenialReason[] = ['unauthenticated', 'permission_denied', 'rate_limited'];

/** Error codes are a closed catalogue (src/core/errors.ts); this bounds the label even if one were not. */
const maxErrorCodes = 128;
const errorCodePattern = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * The cells of one route and method: counts by status class and the latency histogram. Taken once
 * per route (the HTTP layer keeps it on the route's config), so a request costs two additions and
 * a bucket search.
 */
export class RouteSeries {
  readonly method: string;
  readonly #route: string;
  readonly #requests: CounterFamily;
  /** By status class: index 1 = 1xx … 5 = 5xx. */
  readonly #byClass: Array<CounterCell | undefined> = [];
  readonly #duration: HistogramCell;

  constructor(route: string, method: string, requests: CounterFamily, duration: HistogramFamily) {
    this.method = method;
    this.#route = route;
    this.#requests = requests;
    this.#duration = duration.cell(route, method);
  }

  /** Counts one answered request. */
  record(statusCode: number, seconds: number): void {
    const statusClass = statusCode >= 100 && statusCode < 600 ? (statusCode / 100) | 0 : 5;
    const cell = (this.#byClass[statusClass] ??= this.#requests.cell(
      this.#route,
      this.method,
      `${statusClass}xx`,
    ));
    cell.inc();
    this.#duration.observe(seconds);
  }
}

/**
 * Request metrics (SLIs M1–M3, M5): requests by route template, method and status class, their
 * latency, refusals by reason, and errors by code. Labels are route templates, methods, status
 * classes and catalogue codes only: never a URL, a secret path or a principal.
 */
export class RequestMetrics {
  readonly #requests: CounterFamily;
  readonly #duration: HistogramFamily;
  readonly #denied = new Map<string, CounterCell>();
  readonly #errors: CounterFamily;
  readonly #errorCells = new Map<string, CounterCell>();
  readonly #series = new Map<string, RouteSeries>();

  constructor(registry: Registry) {
    this.#requests = new CounterFamily(
      'coffer_http_requests_total',
      'HTTP requests answered, by route template, method and status class (M1, M3).',
      ['route', 'method', 'status_class'],
    ).register(registry);
    this.#duration = new HistogramFamily(
      'coffer_http_request_duration_seconds',
      'Time from the request’s arrival to the end of its answer, by route template and method (M2).',
      ['route', 'method'],
      latencyBucketsSeconds,
    ).register(registry);
    const denied = new CounterFamily(
      'coffer_http_denied_total',
      'Requests refused: no or bad credential, permission denied, or rate limited (M5).',
      ['reason'],
    ).register(registry);
    for (const reason of denialReasons) this.#denied.set(reason, denied.cell(reason));
    this.#errors = new CounterFamily(
      'coffer_http_errors_total',
      'Requests answered with an error, by error code (docs/errors.md).',
      ['code'],
    ).register(registry);
  }

  /** The cells of `route` (a route template, or `unmatched`) and `method`. */
  series(route: string | undefined, method: string): RouteSeries {
    const template = route ?? unmatchedRoute;
    const key = `${method} ${template}`;
    let series = this.#series.get(key);
    if (series === undefined) {
      series = new RouteSeries(template, method, this.#requests, this.#duration);
      this.#series.set(key, series);
    }
    return series;
  }

  /** Counts an error answer by its code, and a refusal (401, 403 permission_denied, 429) by reason. */
  failed(code: string): void {
    this.#denied.get(code)?.inc();
    let cell = this.#errorCells.get(code);
    if (cell === undefined) {
      const label = errorCodePattern.test(code) && this.#errorCells.size < maxErrorCodes ? code : 'other';
      cell = this.#errors.cell(label);
      if (label === code) this.#errorCells.set(code, cell);
    }
    cell.inc();
  }
}
