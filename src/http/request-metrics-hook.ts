import type { FastifyInstance } from 'fastify';
import type { App } from '../app/app.ts';
import type { RouteSeries } from '../app/request-metrics.ts';
import { routeConfig } from './route-guard.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's request metric cells, taken at its first answered request. */
    metricSeries?: RouteSeries;
  }
}

/**
 * Counts every answered request by route template (Fastify's, never the URL: `unmatched` when no
 * route matched), method and status class, and observes its latency (SLIs M1–M3). The route's cells
 * are kept on its config object, so a request costs a property read, two additions and a bucket
 * search: no label object, no string, no promise.
 */
export function registerRequestMetrics(server: FastifyInstance, app: App): void {
  const requests = app.metrics.requests;
  server.addHook('onResponse', (request, reply, done) => {
    const config = routeConfig(request);
    let series = config.metricSeries;
    if (series === undefined || series.method !== request.method) {
      series = requests.series((config as { url?: string }).url, request.method);
      config.metricSeries = series;
    }
    series.record(reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}
