import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { App } from '../../app/app.ts';
import type { AuditEvent } from '../../audit/audit-types.ts';
import { PageOf, PageQuery } from '../../core/api/common-schemas.ts';
import {
  BatchGetBody,
  CreateSecretBody,
  DependentsView,
  InstanceBody,
  InstanceView,
  MoveStageBody,
  OperationView,
  PatchSecretBody,
  PutValueBody,
  SecretValueView,
  SecretVersionView,
  SecretView,
} from '../../core/api/secrets-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { formatDuration, maxTimestampMs, parseDurationSeconds } from '../../core/durations.ts';
import { errors } from '../../core/errors.ts';
import type { Permission } from '../../iam/permissions.ts';
import type { Caller, RevealedValue } from '../../secrets/secret-value-service.ts';
import { type Instance, instanceName, type Secret, secretName } from '../../secrets/secret-types.ts';
import { mapError } from '../error-mapper.ts';
import { pageView } from '../page-view.ts';
import { fromBase64 } from './kms-routes.ts';
import { newTimeOrderedUuid } from '../../core/ids.ts';

const s64 = () => Type.String({ maxLength: 64 });
const RegionParams = Type.Object({ projectId: s64(), regionId: s64() });
const InstanceParams = Type.Object({ projectId: s64(), regionId: s64(), instanceId: s64() });
const OperationParams = Type.Object({ projectId: s64(), regionId: s64(), operationId: s64() });
const SecretParams = Type.Object({
  projectId: s64(),
  regionId: s64(),
  instanceId: s64(),
  secret: Type.String({ maxLength: 1600 }),
});
const VersionParams = Type.Object({
  projectId: s64(),
  regionId: s64(),
  instanceId: s64(),
  secret: Type.String({ maxLength: 1600 }),
  version: Type.Integer({ minimum: 1 }),
});
const StageParams = Type.Object({
  projectId: s64(),
  regionId: s64(),
  instanceId: s64(),
  secret: Type.String({ maxLength: 1600 }),
  stage: s64(),
});
const KeyParams = Type.Object({ projectId: s64(), regionId: s64(), keyRingId: s64(), keyId: s64() });
const ListSecretsQuery = Type.Object(
  {
    prefix: Type.Optional(Type.String({ maxLength: 512 })),
    pageSize: Type.Optional(Type.Integer({ minimum: 1 })),
    pageToken: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);
const ValueQuery = Type.Object(
  {
    version: Type.Optional(Type.String({ maxLength: 16 })),
    stage: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
const DeleteQuery = Type.Object(
  { recoveryWindowDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 })) },
  { additionalProperties: false },
);

type P = Record<string, string>;
const regionName = (p: P) => `projects/${p.projectId}/regions/${p.regionId}`;
const instName = (p: P) =>
  instanceName({ projectId: p.projectId!, regionId: p.regionId!, instanceId: p.instanceId! });
const secName = (p: P) => `${instName(p)}/secrets/${encodeURIComponent(p.secret ?? '')}`;
const loc = (p: P) => ({ projectId: p.projectId!, regionId: p.regionId! });

function guard(
  permission: Permission | 'authenticated',
  resource: (p: P) => string,
  extra: { needsKmsRegion?: boolean; auditAction?: string } = {},
) {
  return { guard: { permission, resource, feature: 'secrets' as const, ...extra } };
}

function instanceView(instance: Instance, operation?: { id: string; name: string }): InstanceView {
  return {
    id: instance.id,
    name: instance.name,
    projectId: instance.projectId,
    regionId: instance.regionId,
    kmsKey: instance.kmsKey,
    etag: instance.etag,
    createTime: toRfc3339(instance.createTimeMs),
    updateTime: toRfc3339(instance.updateTimeMs),
    ...(operation ? { operation } : {}),
  };
}

function etagOf(request: FastifyRequest, body: string | undefined): string | undefined {
  if (body !== undefined) return body;
  const header = request.headers['if-match'];
  return typeof header === 'string' ? header.replace(/^W\//, '').replace(/^"|"$/g, '') : undefined;
}

function callerOf(request: FastifyRequest): Caller {
  const events: AuditEvent[] = [];
  request.auditExtra = events;
  return { principal: request.principal!, requestId: String(request.id), events };
}

function valueView(value: RevealedValue) {
  return {
    ...(value.value !== undefined ? { value: value.value } : {}),
    ...(value.binaryValue !== undefined ? { binaryValue: value.binaryValue.toString('base64') } : {}),
    version: value.version,
    stages: value.stages,
    createTime: toRfc3339(value.createTimeMs),
  };
}

function expiryOf(
  body: { expireTime?: string | null | undefined; ttl?: string | number | undefined },
  nowMs: number,
): number | null | undefined {
  if (body.expireTime !== undefined && body.ttl !== undefined)
    throw errors.invalid('Give expireTime or ttl, not both.');
  if (body.ttl !== undefined) return nowMs + parseDurationSeconds(body.ttl, 'ttl') * 1000;
  if (body.expireTime === null) return null;
  return body.expireTime === undefined ? undefined : timestampOf(body.expireTime, 'expireTime');
}

function timestampOf(value: string, field: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || ms > maxTimestampMs)
    throw errors.invalid(`${field} must be a timestamp before the year 10000.`);
  return ms;
}

function rotationOf(
  rotation: { period: string | number; nextRotationTime?: string | undefined } | null | undefined,
) {
  if (rotation === undefined || rotation === null) return rotation;
  return {
    periodSeconds: parseDurationSeconds(rotation.period, 'rotation.period'),
    ...(rotation.nextRotationTime !== undefined
      ? { nextRotationTimeMs: timestampOf(rotation.nextRotationTime, 'rotation.nextRotationTime') }
      : {}),
  };
}

/** Secrets Manager routes (SPEC §6). */
export function registerSecretsRoutes(server: FastifyInstance, app: App): void {
  const tags = ['secrets'];
  const base = '/v2/projects/:projectId/regions/:regionId/instances';
  const secretBase = `${base}/:instanceId/secrets/:secret`;

  const secretView = async (instance: Instance, secret: Secret) => ({
    name: secretName(secret),
    path: secret.path,
    instanceId: secret.instanceId,
    kmsKey: await app.secrets.keyInfo(instance, secret),
    labels: { ...secret.labels },
    annotations: { ...secret.annotations },
    expireTime: secret.expireTimeMs === null ? null : toRfc3339(secret.expireTimeMs),
    rotation:
      secret.rotationPeriodSeconds === null
        ? null
        : {
            period: formatDuration(secret.rotationPeriodSeconds),
            nextRotationTime:
              secret.nextRotationTimeMs === null ? null : toRfc3339(secret.nextRotationTimeMs),
          },
    deleteTime: secret.deleteTimeMs === null ? null : toRfc3339(secret.deleteTimeMs),
    latestVersion: secret.nextVersion - 1,
    etag: secret.etag,
    createTime: toRfc3339(secret.createTimeMs),
    updateTime: toRfc3339(secret.updateTimeMs),
  });

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

  server.post<{ Params: P; Body: CreateSecretBody }>(
    `${base}/:instanceId/secrets`,
    {
      config: guard('secrets.secrets.create', instName, { needsKmsRegion: true }),
      schema: {
        tags,
        summary: 'Create a secret (optionally with its first value)',
        params: InstanceParams,
        body: CreateSecretBody,
        response: { 201: SecretView },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const expireTimeMs = expiryOf(body, app.clock.nowMs());
      const rotation = rotationOf(body.rotation);
      const secret = await app.secretValues.create(
        loc(request.params),
        request.params.instanceId!,
        {
          path: body.path,
          ...(body.kmsKeyIdentity !== undefined ? { kmsKeyIdentity: body.kmsKeyIdentity } : {}),
          ...(body.labels ? { labels: body.labels } : {}),
          ...(body.annotations ? { annotations: body.annotations } : {}),
          ...(typeof expireTimeMs === 'number' ? { expireTimeMs } : {}),
          ...(rotation ? { rotation } : {}),
          ...(body.value !== undefined ? { value: body.value } : {}),
          ...(body.binaryValue !== undefined
            ? { binaryValue: fromBase64(body.binaryValue, 'binaryValue') }
            : {}),
        },
        callerOf(request),
      );
      const instance = await app.instances.get(loc(request.params), request.params.instanceId!);
      return reply.code(201).send(await secretView(instance, secret));
    },
  );
  server.get<{ Params: P; Querystring: Static<typeof ListSecretsQuery> }>(
    `${base}/:instanceId/secrets`,
    {
      config: guard('secrets.secrets.list', instName),
      schema: {
        tags,
        summary: 'List secrets (metadata)',
        params: InstanceParams,
        querystring: ListSecretsQuery,
        response: { 200: PageOf(SecretView) },
      },
    },
    async (request) => {
      const instance = await app.instances.get(loc(request.params), request.params.instanceId!);
      const page = await app.secrets.list(
        loc(request.params),
        instance.id,
        request.query.prefix,
        request.query.pageSize,
        request.query.pageToken,
      );
      const items = [];
      for (const secret of page.items) items.push(await secretView(instance, secret));
      return { items, ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) };
    },
  );
  server.get<{ Params: P }>(
    secretBase,
    {
      config: guard('secrets.secrets.get', secName),
      schema: {
        tags,
        summary: 'Get a secret’s metadata (every key state)',
        params: SecretParams,
        response: { 200: SecretView },
      },
    },
    async (request) => {
      const { instance, secret } = await app.secrets.get(
        loc(request.params),
        request.params.instanceId!,
        request.params.secret!,
      );
      return secretView(instance, secret);
    },
  );
  server.patch<{ Params: P; Body: PatchSecretBody }>(
    secretBase,
    {
      config: guard('secrets.secrets.update', secName),
      schema: {
        tags,
        summary: 'Change labels, annotations, expiry, rotation',
        params: SecretParams,
        body: PatchSecretBody,
        response: { 200: SecretView },
      },
    },
    async (request) => {
      const body = request.body;
      if (body.kmsKeyIdentity !== undefined)
        throw errors.invalid('kmsKeyIdentity is immutable; create a new secret to use another key.');
      const expireTimeMs = expiryOf(body, app.clock.nowMs());
      const rotation = rotationOf(body.rotation);
      const p = request.params;
      const secret = await app.secrets.patch(
        loc(p),
        p.instanceId!,
        p.secret!,
        {
          ...(body.labels ? { labels: body.labels } : {}),
          ...(body.annotations ? { annotations: body.annotations } : {}),
          ...(expireTimeMs !== undefined ? { expireTimeMs } : {}),
          ...(rotation !== undefined ? { rotation } : {}),
        },
        etagOf(request, body.etag),
      );
      return secretView(await app.instances.get(loc(p), p.instanceId!), secret);
    },
  );
  server.delete<{ Params: P; Querystring: Static<typeof DeleteQuery> }>(
    secretBase,
    {
      config: guard('secrets.secrets.delete', secName),
      schema: {
        tags,
        summary: 'Delete with a recovery window (0 purges now)',
        params: SecretParams,
        querystring: DeleteQuery,
      },
    },
    async (request, reply) => {
      const p = request.params;
      const secret = await app.secrets.delete(
        loc(p),
        p.instanceId!,
        p.secret!,
        request.query.recoveryWindowDays ?? 7,
      );
      if (!secret) return reply.code(204).send();
      return reply.code(200).send(await secretView(await app.instances.get(loc(p), p.instanceId!), secret));
    },
  );
  server.post<{ Params: P }>(
    `${secretBase}/restore`,
    {
      config: guard('secrets.secrets.restore', secName),
      schema: {
        tags,
        summary: 'Restore a secret pending deletion',
        params: SecretParams,
        response: { 200: SecretView },
      },
    },
    async (request) => {
      const p = request.params;
      const secret = await app.secrets.restore(loc(p), p.instanceId!, p.secret!);
      return secretView(await app.instances.get(loc(p), p.instanceId!), secret);
    },
  );

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
      // Before anything is looked up: a caller who may read none of the named secrets learns nothing.
      let mayReadAny = false;
      for (const path of request.body.secrets) {
        if (
          await app.authorizer.holds(
            request.principal!,
            'secrets.get_value',
            `${instName(p)}/secrets/${encodeURIComponent(path)}`,
          )
        ) {
          mayReadAny = true;
          break;
        }
      }
      if (!mayReadAny) throw errors.denied();
      await app.projects.requireFeature(p.projectId!, 'secrets');
      const instance = await app.instances.get(loc(p), p.instanceId!);
      const caller = callerOf(request);
      const values = [];
      const failures = [];
      for (const path of request.body.secrets) {
        const resource = secretName({ ...instance, instanceId: instance.id, path });
        const kmsEvents: AuditEvent[] = [];
        let status = 200;
        try {
          if (!(await app.authorizer.holds(caller.principal, 'secrets.get_value', resource)))
            throw errors.denied();
          const secret = (await app.secrets.get(loc(p), instance.id, path)).secret;
          const value = await app.secretValues.reveal(instance, secret, { ...caller, events: kmsEvents });
          values.push({ path, ...valueView(value) });
        } catch (err) {
          const mapped = mapError(err);
          if (mapped.unexpected) throw err;
          status = mapped.status;
          failures.push({ path, error: { code: mapped.code, message: mapped.message } });
          for (const [i, event] of kmsEvents.entries()) {
            if (event.status === 0) kmsEvents[i] = { ...event, result: 'error', status };
          }
        }
        caller.events.push(
          {
            id: newTimeOrderedUuid(app.clock.nowMs()),
            timeMs: app.clock.nowMs(),
            requestId: caller.requestId,
            action: 'secrets.get_value',
            principal: caller.principal,
            resource,
            projectId: instance.projectId,
            result: status < 400 ? 'ok' : status === 403 ? 'denied' : 'error',
            status,
          },
          ...kmsEvents,
        );
      }
      return { values, errors: failures };
    },
  );

  server.get<{ Params: P }>(
    '/v2/projects/:projectId/regions/:regionId/keyrings/:keyRingId/keys/:keyId/dependents',
    {
      config: {
        guard: {
          permission: 'kms.keys.get',
          resource: (p: P) => `${regionName(p)}/keyrings/${p.keyRingId}/keys/${p.keyId}`,
          feature: 'kms' as const,
        },
      },
      schema: {
        tags: ['kms'],
        summary: 'Secrets and instances bound to this key',
        params: KeyParams,
        response: { 200: DependentsView },
      },
    },
    async (request) => {
      const p = request.params;
      const key = await app.kms.getKey(loc(p), p.keyRingId!, p.keyId!);
      return app.secrets.dependents(key);
    },
  );
}
