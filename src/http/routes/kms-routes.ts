import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { PageOf, PageQuery } from '../../core/api/common-schemas.ts';
import {
  CreateKeyBody,
  CreateKeyRingBody,
  ForceQuery,
  KeyRingView,
  KeyView,
  ScheduleDeletionBody,
} from '../../core/api/kms-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { errors } from '../../core/errors.ts';
import { formatDuration, parseDurationSeconds } from '../../core/durations.ts';
import type { Permission } from '../../iam/permissions.ts';
import { isManagedKeyId } from '../../kms/kms-alias-service.ts';
import type { KeyAction } from '../../kms/kms-fns.ts';
import { type CryptoKey, type KeyRing, keyResourceName } from '../../kms/kms-types.ts';
import { pageView } from '../page-view.ts';
import { registerKmsCryptoRoutes } from './kms-crypto-routes.ts';
import { KeyParams, keyName, kmsGuard } from './kms-route-shared.ts';
import { registerKmsVersionRoutes } from './kms-version-routes.ts';

const Location = { projectId: Type.String({ maxLength: 64 }), regionId: Type.String({ maxLength: 64 }) };
const RegionParams = Type.Object(Location);
const RingParams = Type.Object({ ...Location, keyRingId: Type.String({ maxLength: 64 }) });
type RingParams = Static<typeof RingParams>;
type RegionParams = Static<typeof RegionParams>;
type PageQueryString = Static<typeof PageQuery>;

const regionName = (p: Record<string, string>) => `projects/${p.projectId}/regions/${p.regionId}`;
const ringName = (p: Record<string, string>) => `${regionName(p)}/keyrings/${p.keyRingId}`;

function keyRingView(ring: KeyRing): KeyRingView {
  return {
    id: ring.id,
    name: `projects/${ring.projectId}/regions/${ring.regionId}/keyrings/${ring.id}`,
    displayName: ring.displayName,
    description: ring.description,
    createTime: toRfc3339(ring.createTimeMs),
  };
}

/** The API view of a key. */
export function keyView(key: CryptoKey): KeyView {
  return {
    id: key.id,
    name: keyResourceName(key),
    slug: key.slug,
    displayName: key.displayName,
    algorithm: key.algorithm,
    purpose: key.purpose,
    state: key.state,
    primaryVersion: key.primaryVersion,
    rotationPeriod: key.rotationPeriodSeconds === null ? null : formatDuration(key.rotationPeriodSeconds),
    nextRotationTime: key.nextRotationTimeMs === null ? null : toRfc3339(key.nextRotationTimeMs),
    deletionTime: key.deletionTimeMs === null ? null : toRfc3339(key.deletionTimeMs),
    createTime: toRfc3339(key.createTimeMs),
    updateTime: toRfc3339(key.updateTimeMs),
  };
}

/** KMS: key rings, keys, versions, lifecycle and crypto operations (SPEC §5). */
export function registerKmsRoutes(server: FastifyInstance, app: App): void {
  const base = '/v2/projects/:projectId/regions/:regionId/keyrings';

  server.post<{ Params: RegionParams; Body: CreateKeyRingBody }>(
    base,
    {
      config: kmsGuard('kms.key_rings.create', regionName),
      schema: {
        tags: ['kms'],
        summary: 'Create a key ring',
        params: RegionParams,
        body: CreateKeyRingBody,
        response: { 201: KeyRingView },
      },
    },
    async (request, reply) =>
      reply.code(201).send(keyRingView(await app.kms.createKeyRing(request.params, request.body))),
  );

  server.get<{ Params: RegionParams; Querystring: PageQueryString }>(
    base,
    {
      config: kmsGuard('kms.key_rings.list', regionName),
      schema: {
        tags: ['kms'],
        summary: 'List key rings',
        params: RegionParams,
        querystring: PageQuery,
        response: { 200: PageOf(KeyRingView) },
      },
    },
    async (request) =>
      pageView(
        await app.kms.listKeyRings(request.params, request.query.pageSize, request.query.pageToken),
        keyRingView,
      ),
  );

  server.get<{ Params: RingParams }>(
    `${base}/:keyRingId`,
    {
      config: kmsGuard('kms.key_rings.get', ringName),
      schema: {
        tags: ['kms'],
        summary: 'Get a key ring',
        params: RingParams,
        response: { 200: KeyRingView },
      },
    },
    async (request) => keyRingView(await app.kms.getKeyRing(request.params, request.params.keyRingId)),
  );

  server.post<{ Params: RingParams; Body: CreateKeyBody }>(
    `${base}/:keyRingId/keys`,
    {
      config: kmsGuard('kms.keys.create', ringName),
      schema: {
        tags: ['kms'],
        summary: 'Create a key (with version 1)',
        params: RingParams,
        body: CreateKeyBody,
        response: { 201: KeyView },
      },
    },
    async (request, reply) => {
      if (
        request.body.id !== undefined &&
        isManagedKeyId(request.params, request.params.keyRingId, request.body.id)
      )
        throw errors.invalid(`Key id ${request.body.id} is reserved for the AWS managed key of this region.`);
      const { rotationPeriod, ...rest } = request.body;
      const input = {
        ...rest,
        ...(rotationPeriod !== undefined
          ? { rotationPeriodSeconds: parseDurationSeconds(rotationPeriod, 'rotationPeriod') }
          : {}),
      };
      return reply
        .code(201)
        .send(keyView(await app.kms.createKey(request.params, request.params.keyRingId, input)));
    },
  );

  server.get<{ Params: RingParams; Querystring: PageQueryString }>(
    `${base}/:keyRingId/keys`,
    {
      config: kmsGuard('kms.keys.list', ringName),
      schema: {
        tags: ['kms'],
        summary: 'List keys',
        params: RingParams,
        querystring: PageQuery,
        response: { 200: PageOf(KeyView) },
      },
    },
    async (request) =>
      pageView(
        await app.kms.listKeys(
          request.params,
          request.params.keyRingId,
          request.query.pageSize,
          request.query.pageToken,
        ),
        keyView,
      ),
  );

  server.get<{ Params: KeyParams }>(
    `${base}/:keyRingId/keys/:keyId`,
    {
      config: kmsGuard('kms.keys.get', keyName),
      schema: {
        tags: ['kms'],
        summary: 'Get a key (every state)',
        params: KeyParams,
        response: { 200: KeyView },
      },
    },
    async (request) =>
      keyView(await app.kms.getKey(request.params, request.params.keyRingId, request.params.keyId)),
  );

  server.post<{ Params: KeyParams }>(
    `${base}/:keyRingId/keys/:keyId/rotate`,
    {
      config: kmsGuard('kms.keys.rotate', keyName),
      schema: {
        tags: ['kms'],
        summary: 'Add a primary version',
        params: KeyParams,
        response: { 200: KeyView },
      },
    },
    async (request) =>
      keyView(await app.kms.rotate(request.params, request.params.keyRingId, request.params.keyId)),
  );

  const lifecycle: Array<[string, KeyAction, Permission, TSchema | undefined]> = [
    ['enable', 'enable', 'kms.keys.enable', undefined],
    ['disable', 'disable', 'kms.keys.disable', undefined],
    ['schedule-deletion', 'schedule_deletion', 'kms.keys.schedule_deletion', ScheduleDeletionBody],
    ['cancel-deletion', 'cancel_deletion', 'kms.keys.cancel_deletion', undefined],
  ];
  for (const [path, action, permission, body] of lifecycle) {
    server.post<{ Params: KeyParams; Querystring: ForceQuery; Body: ScheduleDeletionBody | undefined }>(
      `${base}/:keyRingId/keys/:keyId/${path}`,
      {
        config: kmsGuard(permission, keyName),
        schema: {
          tags: ['kms'],
          summary: `${path.replace('-', ' ')} a key`,
          params: KeyParams,
          querystring: ForceQuery,
          ...(body ? { body } : {}),
          response: { 200: KeyView },
        },
      },
      async (request) => {
        const options = {
          ...(request.query.force ? { force: true } : {}),
          ...(request.body?.pendingWindowDays !== undefined
            ? { pendingWindowDays: request.body.pendingWindowDays }
            : {}),
        };
        return keyView(
          await app.kms.changeState(
            request.params,
            request.params.keyRingId,
            request.params.keyId,
            action as Exclude<KeyAction, 'rotate'>,
            options,
          ),
        );
      },
    );
  }

  registerKmsVersionRoutes(server, app, base);

  registerKmsCryptoRoutes(server, app, base);
}
