import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { PageOf } from '../../core/api/common-schemas.ts';
import {
  BatchGetBody,
  MoveStageBody,
  PutValueBody,
  SecretValueView,
  SecretVersionView,
} from '../../core/api/secrets-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { errors } from '../../core/errors.ts';
import { BatchReveal, type DescribeFailure } from '../../secrets/batch-reveal.ts';
import { fromBase64 } from '../base64-field.ts';
import { mapError } from '../error-mapper.ts';
import {
  InstanceParams,
  SecretParams,
  VersionParams,
  StageParams,
  ValueQuery,
  type P,
  instName,
  secName,
  loc,
  guard,
  callerOf,
  valueView,
} from './secrets-route-shared.ts';

/** Secret values, versions, stages and batch reads (SPEC §6). */
export function registerSecretValueRoutes(server: FastifyInstance, app: App): void {
  const tags = ['secrets'];
  const base = '/v2/projects/:projectId/regions/:regionId/instances';
  const secretBase = `${base}/:instanceId/secrets/:secret`;
  const batchReveal = new BatchReveal({
    authorizer: app.authorizer,
    projects: app.projects,
    instances: app.instances,
    secrets: app.secrets,
    values: app.secretValues,
    clock: app.clock,
  });

  server.get<{ Params: P; Querystring: Static<typeof ValueQuery> }>(
    `${secretBase}/value`,
    {
      config: { ...guard('secrets.get_value', secName, { needsKmsRegion: true }), noStore: true },
      schema: {
        tags,
        summary: 'getSecretValue',
        params: SecretParams,
        querystring: ValueQuery,
        response: { 200: SecretValueView },
      },
    },
    async (request) => {
      const p = request.params;
      const value = await app.secretValues.getValue(
        loc(p),
        p.instanceId!,
        p.secret!,
        request.query.version,
        request.query.stage,
        callerOf(request),
      );
      request.auditDetails = { version: value.version };
      return valueView(value);
    },
  );
  server.put<{ Params: P; Body: PutValueBody }>(
    `${secretBase}/value`,
    {
      config: guard('secrets.put_value', secName, { needsKmsRegion: true }),
      schema: {
        tags,
        summary: 'putSecretValue (Idempotency-Key header honoured)',
        params: SecretParams,
        body: PutValueBody,
        response: { 201: Type.Object({ version: Type.Integer() }) },
      },
    },
    async (request, reply) => {
      const p = request.params;
      const body = request.body;
      const header = request.headers['idempotency-key'];
      const result = await app.secretValues.putValue(
        loc(p),
        p.instanceId!,
        p.secret!,
        {
          ...(body.value !== undefined ? { value: body.value } : {}),
          ...(body.binaryValue !== undefined
            ? { binaryValue: fromBase64(body.binaryValue, 'binaryValue') }
            : {}),
          ...(body.stages ? { stages: body.stages } : {}),
          ...(body.expectedLatestVersion !== undefined
            ? { expectedLatestVersion: body.expectedLatestVersion }
            : {}),
        },
        typeof header === 'string' ? header : undefined,
        callerOf(request),
      );
      request.auditDetails = { version: result.version };
      return reply.code(201).send(result);
    },
  );

  const versionView = (v: {
    version: number;
    state: string;
    stages: string[];
    createTimeMs: number;
    createdBy: string;
    destroyTimeMs: number | null;
  }) => ({
    version: v.version,
    state: v.state,
    stages: v.stages,
    createTime: toRfc3339(v.createTimeMs),
    createdBy: v.createdBy,
    destroyTime: v.destroyTimeMs === null ? null : toRfc3339(v.destroyTimeMs),
  });
  server.get<{ Params: P }>(
    `${secretBase}/versions`,
    {
      config: guard('secrets.versions.list', secName),
      schema: {
        tags,
        summary: 'List versions',
        params: SecretParams,
        response: { 200: PageOf(SecretVersionView) },
      },
    },
    async (request) => {
      const p = request.params;
      return {
        items: (await app.secretValues.listVersions(loc(p), p.instanceId!, p.secret!)).map(versionView),
      };
    },
  );
  server.get<{ Params: P & { version: number } }>(
    `${secretBase}/versions/:version`,
    {
      config: guard('secrets.versions.get', secName),
      schema: {
        tags,
        summary: 'Get a version’s metadata',
        params: VersionParams,
        response: { 200: SecretVersionView },
      },
    },
    async (request) => {
      const p = request.params;
      return versionView(await app.secretValues.getVersion(loc(p), p.instanceId!, p.secret!, p.version));
    },
  );
  for (const action of ['enable', 'disable', 'destroy'] as const) {
    server.post<{ Params: P & { version: number } }>(
      `${secretBase}/versions/:version/${action}`,
      {
        config: guard(`secrets.versions.${action}`, secName),
        schema: {
          tags,
          summary: `${action} a version`,
          params: VersionParams,
          response: { 200: SecretVersionView },
        },
      },
      async (request) => {
        const p = request.params;
        request.auditDetails = { version: p.version };
        return versionView(
          await app.secretValues.setVersionState(loc(p), p.instanceId!, p.secret!, p.version, action),
        );
      },
    );
  }
  server.get<{ Params: P }>(
    `${secretBase}/stages`,
    {
      config: guard('secrets.versions.list', secName),
      schema: {
        tags,
        summary: 'Staging labels',
        params: SecretParams,
        response: { 200: PageOf(Type.Object({ stage: Type.String(), version: Type.Integer() })) },
      },
    },
    async (request) => {
      const p = request.params;
      const stages = await app.secretValues.stages(loc(p), p.instanceId!, p.secret!);
      return {
        items: [...stages]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([stage, version]) => ({ stage, version })),
      };
    },
  );
  server.put<{ Params: P; Body: MoveStageBody }>(
    `${secretBase}/stages/:stage`,
    {
      config: guard('secrets.stages.update', secName),
      schema: {
        tags,
        summary: 'Move a staging label onto a version',
        params: StageParams,
        body: MoveStageBody,
        response: { 200: Type.Object({ stage: Type.String(), version: Type.Integer() }) },
      },
    },
    async (request) => {
      const p = request.params;
      await app.secretValues.moveStage(loc(p), p.instanceId!, p.secret!, p.stage!, request.body.version);
      return { stage: p.stage!, version: request.body.version };
    },
  );

  server.post<{ Params: P; Body: BatchGetBody }>(
    `${base}/:instanceId/secrets::batchGetValues`,
    {
      config: {
        ...guard('authenticated', instName, {
          needsKmsRegion: true,
          auditAction: 'secrets.batch_get_values',
        }),
        noStore: true,
      },
      schema: {
        tags,
        summary: 'Read up to 20 secrets at once; per-secret errors; one audit event each',
        params: InstanceParams,
        body: BatchGetBody,
      },
    },
    async (request) => {
      const p = request.params;
      // JSON may carry a lone surrogate ("\ud800"), which no resource name can encode.
      if (request.body.secrets.some((path) => !path.isWellFormed()))
        throw errors.invalid('A secret path is not well-formed Unicode (unpaired surrogate).');
      const { values, errors: failures } = await batchReveal.read(
        loc(p),
        p.instanceId!,
        request.body.secrets,
        callerOf(request),
        describeFailure,
      );
      return { values: values.map(({ path, value }) => ({ path, ...valueView(value) })), errors: failures };
    },
  );
}

/** A batch's per-secret error as the API answers it; undefined (fail the request) when unexpected. */
const describeFailure: DescribeFailure = (err) => {
  const mapped = mapError(err);
  return mapped.unexpected
    ? undefined
    : { status: mapped.status, code: mapped.code, message: mapped.message };
};
