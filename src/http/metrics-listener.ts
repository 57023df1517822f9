import { createServer, type Server } from 'node:http';
import type { App } from '../app/app.ts';

/** Connections the metrics listener accepts at once (scrapers are few). */
const maxConnections = 32;

/**
 * Starts the optional metrics listener (`metricsListen`, off by default): `GET /metrics` answers the
 * same registry as `GET /v2/sys/metrics`, without authentication, for a scraper on the same host.
 * The configuration refuses a non-loopback address unless `metricsListenAllowRemote` is set
 * (core/config.ts). Nothing else is served there: any other path is 404, any other method 405.
 * Resolves with the listening server (undefined when off); rejects when it cannot listen.
 */
export async function startMetricsListener(app: App): Promise<Server | undefined> {
  const listen = app.config.metricsListen;
  if (listen === undefined) return undefined;
  const index = listen.lastIndexOf(':');
  const host = listen.slice(0, index).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(index + 1));
  // Scrapes in flight at the same moment share one collection (the listener needs no token, so
  // anyone on the host could otherwise make the node build the registry once per request).
  let inFlight: Promise<string> | undefined;
  const scrape = () =>
    (inFlight ??= app.metrics.text().finally(() => {
      inFlight = undefined;
    }));
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      response
        .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        .end('not found: GET /metrics\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    scrape().then(
      (text) => {
        response.writeHead(200, { 'content-type': app.metrics.contentType, 'cache-control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        app.logger.error({ err }, 'metrics could not be collected');
        response.writeHead(500).end();
      },
    );
  });
  server.maxConnections = maxConnections;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** Stops the metrics listener and drops its connections. */
export async function stopMetricsListener(server: Server | undefined): Promise<void> {
  if (!server) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}
