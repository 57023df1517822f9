import { type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { PageOf, PageQuery } from '../../core/api/common-schemas.ts';
import { InstanceBody, InstanceView, OperationView } from '../../core/api/secrets-schemas.ts';
import { pageView } from '../page-view.ts';
import {
  RegionParams,
  InstanceParams,
  OperationParams,
  type P,
  regionName,
  instName,
  loc,
  guard,
  instanceView,
} from './secrets-route-shared.ts';
import { etagOf } from '../etag.ts';

/** Secrets Manager instances and their long-running operations (SPEC §6, seed 002). */
export function registerInstanceRoutes(server: FastifyInstance, app: App): void {
  const tags = ['secrets'];
  const base = '/v2/projects/:projectId/regions/:regionId/instances';

  server.post<{ Params: P; Body: InstanceBody }>(
    base,
    {
      config: guard('secrets.instances.create', regionName),
      schema: {
        tags,
        summary: 'Create an instance (seed 002)',
        params: RegionParams,
        body: InstanceBody,
        response: { 201: InstanceView },
      },
    },
    async (request, reply) => {
      const instance = await app.instances.create(loc(request.params), request.body, request.principal!);
      return reply.code(201).send(instanceView(instance));
    },
  );
  server.get<{ Params: P; Querystring: Static<typeof PageQuery> }>(
    base,
    {
      config: guard('secrets.instances.list', regionName),
      schema: {
        tags,
        summary: 'List instances',
        params: RegionParams,
        querystring: PageQuery,
        response: { 200: PageOf(InstanceView) },
      },
    },
    async (request) =>
      pageView(
        await app.instances.list(loc(request.params), request.query.pageSize, request.query.pageToken),
        (i) => instanceView(i),
      ),
  );
  server.get<{ Params: P }>(
    `${base}/:instanceId`,
    {
      config: guard('secrets.instances.get', instName),
      schema: { tags, summary: 'Get an instance', params: InstanceParams, response: { 200: InstanceView } },
    },
    async (request) => instanceView(await app.instances.get(loc(request.params), request.params.instanceId!)),
  );
  server.put<{ Params: P; Body: InstanceBody }>(
    `${base}/:instanceId`,
    {
      config: guard('secrets.instances.update', instName),
      schema: {
        tags,
        summary: 'Rename, switch or remove the key (starts a rewrap operation)',
        params: InstanceParams,
        body: InstanceBody,
        response: { 200: InstanceView },
      },
    },
    async (request) => {
      const { etag, ...input } = request.body;
      const { instance, operation } = await app.instances.update(
        loc(request.params),
        request.params.instanceId!,
        input,
        request.principal!,
        etagOf(request, etag),
      );
      if (operation) setImmediate(() => void app.runBackgroundJobs());
      return instanceView(instance, operation ? { id: operation.id, name: operation.name } : undefined);
    },
  );
  server.delete<{ Params: P }>(
    `${base}/:instanceId`,
    {
      config: guard('secrets.instances.delete', instName),
      schema: { tags, summary: 'Delete an empty instance', params: InstanceParams },
    },
    async (request, reply) => {
      await app.instances.delete(loc(request.params), request.params.instanceId!);
      return reply.code(204).send();
    },
  );
  server.get<{ Params: P }>(
    '/v2/projects/:projectId/regions/:regionId/operations/:operationId',
    {
      config: guard('secrets.operations.get', (p) => `${regionName(p)}/operations/${p.operationId}`),
      schema: {
        tags,
        summary: 'A long-running operation',
        params: OperationParams,
        response: { 200: OperationView },
      },
    },
    async (request) => app.instances.getOperation(loc(request.params), request.params.operationId!),
  );
}
