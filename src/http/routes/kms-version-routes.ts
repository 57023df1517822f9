import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { PageOf, PageQuery } from '../../core/api/common-schemas.ts';
import { KeyVersionView, PublicKeyView } from '../../core/api/kms-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import type { VersionAction } from '../../kms/kms-fns.ts';
import { type CryptoKey, type KeyVersion, keyResourceName } from '../../kms/kms-types.ts';
import { pageView } from '../page-view.ts';
import { KeyParams, keyName, keyRef, kmsGuard } from './kms-route-shared.ts';

const VersionParams = Type.Object({
  ...KeyParams.properties,
  version: Type.Integer({ minimum: 1, maximum: 4294967295 }),
});
/**
 * `?force=true` destroys a version that secrets depend on, after `pendingWindowDays` (7–30, default 30,
 * the deletion window of keys); in the query, like `force`, because the POST has no body.
 */
const DestroyQuery = Type.Object(
  {
    force: Type.Optional(Type.Boolean()),
    pendingWindowDays: Type.Optional(Type.Integer({ minimum: 7, maximum: 30 })),
  },
  { additionalProperties: false },
);
type DestroyQuery = Static<typeof DestroyQuery>;
type VersionParams = Static<typeof VersionParams>;
type PageQueryString = Static<typeof PageQuery>;

function versionView(
  key: Pick<CryptoKey, 'projectId' | 'regionId' | 'keyRingId' | 'id'>,
  version: KeyVersion,
): KeyVersionView {
  return {
    version: version.version,
    name: `${keyResourceName(key)}/versions/${version.version}`,
    state: version.state,
    createTime: toRfc3339(version.createTimeMs),
    destroyTime: version.destroyTimeMs === null ? null : toRfc3339(version.destroyTimeMs),
  };
}

/** KMS key versions: list, get, enable, disable, destroy (guarded, scheduled when forced), restore, public key. */
export function registerKmsVersionRoutes(server: FastifyInstance, app: App, base: string): void {
  server.get<{ Params: KeyParams; Querystring: PageQueryString }>(
    `${base}/:keyRingId/keys/:keyId/versions`,
    {
      config: kmsGuard('kms.key_versions.list', keyName),
      schema: {
        tags: ['kms'],
        summary: 'List key versions',
        params: KeyParams,
        querystring: PageQuery,
        response: { 200: PageOf(KeyVersionView) },
      },
    },
    async (request) => {
      const p = request.params;
      const page = await app.kms.listVersions(
        p,
        p.keyRingId,
        p.keyId,
        request.query.pageSize,
        request.query.pageToken,
      );
      return pageView(page, (v) => versionView({ ...p, id: p.keyId }, v));
    },
  );

  server.get<{ Params: VersionParams }>(
    `${base}/:keyRingId/keys/:keyId/versions/:version`,
    {
      config: kmsGuard('kms.key_versions.get', keyName),
      schema: {
        tags: ['kms'],
        summary: 'Get a key version',
        params: VersionParams,
        response: { 200: KeyVersionView },
      },
    },
    async (request) => {
      const p = request.params;
      const { key, version } = await app.kms.getVersion(p, p.keyRingId, p.keyId, p.version);
      return versionView(key, version);
    },
  );

  for (const action of ['enable', 'disable'] as const satisfies readonly VersionAction[]) {
    server.post<{ Params: VersionParams }>(
      `${base}/:keyRingId/keys/:keyId/versions/:version/${action}`,
      {
        config: kmsGuard(`kms.key_versions.${action}`, keyName),
        schema: {
          tags: ['kms'],
          summary: `${action} a key version`,
          params: VersionParams,
          response: { 200: KeyVersionView },
        },
      },
      async (request) => {
        const p = request.params;
        request.auditDetails = { keyVersion: p.version };
        const version = await app.kms.changeVersionState(p, p.keyRingId, p.keyId, p.version, action);
        return versionView({ ...p, id: p.keyId }, version);
      },
    );
  }

  server.post<{ Params: VersionParams; Querystring: DestroyQuery }>(
    `${base}/:keyRingId/keys/:keyId/versions/:version/destroy`,
    {
      config: kmsGuard('kms.key_versions.destroy', keyName),
      schema: {
        tags: ['kms'],
        summary: 'Destroy a key version (scheduled, with ?force=true, when secrets depend on it)',
        params: VersionParams,
        querystring: DestroyQuery,
        response: { 200: KeyVersionView },
      },
    },
    async (request) => {
      const p = request.params;
      const principal = request.principal!;
      request.auditDetails = { keyVersion: p.version, ...(request.query.force ? { force: true } : {}) };
      const version = await app.kms.changeVersionState(p, p.keyRingId, p.keyId, p.version, 'destroy', {
        ...(request.query.force ? { force: true } : {}),
        ...(request.query.pendingWindowDays !== undefined
          ? { pendingWindowDays: request.query.pendingWindowDays }
          : {}),
        canSee: (permission, resource) => app.authorizer.holds(principal, permission, resource),
      });
      return versionView({ ...p, id: p.keyId }, version);
    },
  );

  server.post<{ Params: VersionParams }>(
    `${base}/:keyRingId/keys/:keyId/versions/:version/restore`,
    {
      config: kmsGuard('kms.key_versions.restore', keyName),
      schema: {
        tags: ['kms'],
        summary: 'Cancel a scheduled destruction of a key version (it becomes disabled)',
        params: VersionParams,
        response: { 200: KeyVersionView },
      },
    },
    async (request) => {
      const p = request.params;
      request.auditDetails = { keyVersion: p.version };
      const version = await app.kms.changeVersionState(p, p.keyRingId, p.keyId, p.version, 'restore');
      return versionView({ ...p, id: p.keyId }, version);
    },
  );

  server.get<{ Params: VersionParams }>(
    `${base}/:keyRingId/keys/:keyId/versions/:version/public-key`,
    {
      config: kmsGuard('kms.key_versions.get_public_key', keyName),
      schema: {
        tags: ['kms'],
        summary: 'PEM public key of an asymmetric key version',
        params: VersionParams,
        response: { 200: PublicKeyView },
      },
    },
    async (request) => app.kmsCrypto.publicKey(keyRef(request.params), request.params.version),
  );
}
