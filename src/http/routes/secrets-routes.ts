import { type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { App } from '../../app/app.ts';
import { PageOf } from '../../core/api/common-schemas.ts';
import {
  CreateSecretBody,
  DependentsView,
  PatchSecretBody,
  SecretView,
} from '../../core/api/secrets-schemas.ts';
import type { RotationStatusView, RotatorConfig } from '../../core/api/rotation-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { formatDuration } from '../../core/durations.ts';
import { rotatorView } from '../../rotation/rotation-fns.ts';
import { errors } from '../../core/errors.ts';
import { type Caller, type Instance, type Secret, secretName } from '../../secrets/secret-types.ts';
import {
  InstanceParams,
  SecretParams,
  KeyParams,
  ListSecretsQuery,
  labelFilters,
  DeleteQuery,
  type P,
  regionName,
  instName,
  secName,
  loc,
  guard,
  callerOf,
  expiryOf,
  rotationOf,
} from './secrets-route-shared.ts';
import { fromBase64 } from '../base64-field.ts';
import { etagOf } from '../etag.ts';

/** Secrets: metadata, deletion and restore (SPEC §6), and a KMS key’s dependents. */
export function registerSecretsRoutes(server: FastifyInstance, app: App): void {
  const tags = ['secrets'];
  const base = '/v2/projects/:projectId/regions/:regionId/instances';
  const secretBase = `${base}/:instanceId/secrets/:secret`;

  const secretView = async (instance: Instance, secret: Secret, status?: RotationStatusView) => ({
    name: secretName(secret),
    path: secret.path,
    instanceId: secret.instanceId,
    kmsKey: await app.secrets.keyInfo(instance, secret),
    labels: { ...secret.labels },
    annotations: { ...secret.annotations },
    expireTime: secret.expireTimeMs === null ? null : toRfc3339(secret.expireTimeMs),
    rotation:
      secret.rotationPeriodSeconds === null && !secret.rotator
        ? null
        : {
            period:
              secret.rotationPeriodSeconds === null ? null : formatDuration(secret.rotationPeriodSeconds),
            nextRotationTime:
              secret.nextRotationTimeMs === null ? null : toRfc3339(secret.nextRotationTimeMs),
            ...(secret.rotator ? { rotator: rotatorView(JSON.parse(secret.rotator) as RotatorConfig) } : {}),
          },
    rotationStatus: status !== undefined ? status : await app.rotation.status(secret),
    deleteTime: secret.deleteTimeMs === null ? null : toRfc3339(secret.deleteTimeMs),
    latestVersion: secret.nextVersion - 1,
    etag: secret.etag,
    createTime: toRfc3339(secret.createTimeMs),
    updateTime: toRfc3339(secret.updateTimeMs),
  });

  /**
   * A rotator being set: checked by the rotation service (type available, references in the
   * project that the caller may read) before anything is stored; its stored form.
   */
  const checkedRotator = async (
    request: FastifyRequest<{ Params: P }>,
    path: string,
    rotation: { rotator?: RotatorConfig | undefined } | null | undefined,
    caller: Caller,
  ): Promise<string | undefined> => {
    if (!rotation?.rotator) return undefined;
    const instance = await app.instances.get(loc(request.params), request.params.instanceId!);
    return app.rotation.checkRotator(instance, path, rotation.rotator, caller);
  };

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
      const caller = callerOf(request);
      const rotation = rotationOf(
        body.rotation,
        await checkedRotator(request, body.path, body.rotation, caller),
      );
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
        caller,
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
        labelFilters(request.query.label),
      );
      const items = [];
      const statuses = await app.rotation.statuses(page.items);
      for (const secret of page.items)
        items.push(await secretView(instance, secret, statuses.get(secret.uid)));
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
      const p = request.params;
      const rotation = rotationOf(
        body.rotation,
        body.rotation === undefined
          ? undefined
          : await app.rotation.checkRotatorPatch(
              await app.instances.get(loc(p), p.instanceId!),
              p.secret!,
              body.rotation,
              callerOf(request),
            ),
      );
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
      const principal = request.principal!;
      return app.keyDependents.ofKey(key, (permission, resource) =>
        app.authorizer.holds(principal, permission, resource),
      );
    },
  );
}
