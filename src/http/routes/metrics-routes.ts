import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { rootResource } from '../route-guard.ts';

/** `GET /v2/sys/metrics`: this node's Prometheus metrics (docs/metrics.md), for `sys.metrics.read`. */
export function registerMetricsRoutes(server: FastifyInstance, app: App): void {
  server.get(
    '/v2/sys/metrics',
    {
      config: { guard: { permission: 'sys.metrics.read', resource: () => rootResource }, noStore: true },
      schema: {
        tags: ['sys'],
        summary: 'This node’s metrics in the Prometheus text format (docs/metrics.md)',
        response: { 200: { content: { 'text/plain': { schema: Type.String() } } } },
      },
    },
    async (_request, reply) => {
      const text = await app.metrics.text();
      return reply.header('content-type', app.metrics.contentType).send(text);
    },
  );
}
