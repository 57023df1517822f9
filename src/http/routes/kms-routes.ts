import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { App } from '../../app/app.ts';
import { PageOf, PageQuery } from '../../core/api/common-schemas.ts';
import {
  CiphertextView,
  CreateKeyBody,
  CreateKeyRingBody,
  DataKeyView,
  DecryptBody,
  EncryptBody,
  ForceQuery,
  GenerateDataKeyBody,
  KeyRingView,
  KeyView,
  MacBody,
  MacView,
  PlaintextView,
  RewrapBody,
  ScheduleDeletionBody,
  SignatureView,
  SignBody,
  ValidView,
  VerifyBody,
  VerifyMacBody,
} from '../../core/api/kms-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { formatDuration, parseDurationSeconds } from '../../core/durations.ts';
import { errors } from '../../core/errors.ts';
import type { Permission } from '../../iam/permissions.ts';
import type { KeyAction } from '../../kms/kms-fns.ts';
import { type CryptoKey, type KeyRing, keyResourceName } from '../../kms/kms-types.ts';
import { pageView } from '../page-view.ts';
import { registerKmsVersionRoutes } from './kms-version-routes.ts';

const Location = { projectId: Type.String({ maxLength: 64 }), regionId: Type.String({ maxLength: 64 }) };
const RegionParams = Type.Object(Location);
const RingParams = Type.Object({ ...Location, keyRingId: Type.String({ maxLength: 64 }) });
const KeyParams = Type.Object({
  ...Location,
  keyRingId: Type.String({ maxLength: 64 }),
  keyId: Type.String({ maxLength: 64 }),
});
type KeyParams = Static<typeof KeyParams>;
type RingParams = Static<typeof RingParams>;
type RegionParams = Static<typeof RegionParams>;
type PageQueryString = Static<typeof PageQuery>;

const regionName = (p: Record<string, string>) => `projects/${p.projectId}/regions/${p.regionId}`;
const ringName = (p: Record<string, string>) => `${regionName(p)}/keyrings/${p.keyRingId}`;
const keyName = (p: Record<string, string>) => `${ringName(p)}/keys/${p.keyId}`;

function kmsGuard(permission: Permission, resource: (p: Record<string, string>) => string) {
  return { guard: { permission, resource, feature: 'kms' as const } };
}

/** Decodes a base64 field; `invalid_argument` when it is not canonical base64. */
export function fromBase64(value: string, field: string): Buffer {
  const bytes = Buffer.from(value, 'base64');
  if (value.length % 4 !== 0 || bytes.toString('base64') !== value)
    throw errors.invalid(`${field} is not valid base64.`);
  return bytes;
}

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

function keyRef(p: KeyParams) {
  return { projectId: p.projectId, regionId: p.regionId, keyRingId: p.keyRingId, keyId: p.keyId };
}

function signInput(body: { data?: string | undefined; digest?: string | undefined }) {
  if ((body.data === undefined) === (body.digest === undefined))
    throw errors.invalid('Give exactly one of data and digest.');
  return body.data !== undefined
    ? { data: fromBase64(body.data, 'data') }
    : { digest: fromBase64(body.digest!, 'digest') };
}

function noted<T extends { keyVersion: number }>(request: FastifyRequest, result: T): T {
  request.auditDetails = { keyVersion: result.keyVersion };
  return result;
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

  const crypto = <B extends TSchema>(
    path: string,
    permission: Permission,
    body: B,
    response: TSchema,
    summary: string,
    handler: (request: FastifyRequest<{ Params: KeyParams; Body: Static<B> }>) => Promise<unknown>,
    noStore = false,
  ) =>
    server.post<{ Params: KeyParams; Body: Static<B> }>(
      `${base}/:keyRingId/keys/:keyId/${path}`,
      {
        config: { ...kmsGuard(permission, keyName), noStore },
        schema: { tags: ['kms'], summary, params: KeyParams, body, response: { 200: response } },
      },
      handler,
    );

  const b64 = (value: Buffer) => value.toString('base64');
  const aadOf = (aad: string | undefined) => (aad === undefined ? Buffer.alloc(0) : fromBase64(aad, 'aad'));

  crypto('encrypt', 'kms.encrypt', EncryptBody, CiphertextView, 'Encrypt', async (request) => {
    const { plaintext, aad, keyVersion } = request.body;
    const result = noted(
      request,
      await app.kmsCrypto.encrypt(
        keyRef(request.params),
        fromBase64(plaintext, 'plaintext'),
        aadOf(aad),
        keyVersion,
      ),
    );
    return { ciphertext: b64(result.ciphertext), keyVersion: result.keyVersion };
  });
  crypto(
    'decrypt',
    'kms.decrypt',
    DecryptBody,
    PlaintextView,
    'Decrypt',
    async (request) => {
      const { ciphertext, aad, keyVersion } = request.body;
      const result = noted(
        request,
        await app.kmsCrypto.decrypt(
          keyRef(request.params),
          fromBase64(ciphertext, 'ciphertext'),
          aadOf(aad),
          keyVersion,
        ),
      );
      return { plaintext: b64(result.plaintext), keyVersion: result.keyVersion };
    },
    true,
  );
  crypto(
    'generate-data-key',
    'kms.generate_data_key',
    GenerateDataKeyBody,
    DataKeyView,
    'Generate a data key',
    async (request) => {
      const { numberOfBytes, includePlaintext, aad } = request.body;
      const result = noted(
        request,
        await app.kmsCrypto.generateDataKey(
          keyRef(request.params),
          numberOfBytes,
          includePlaintext ?? true,
          aadOf(aad),
        ),
      );
      return {
        ciphertext: b64(result.ciphertext),
        keyVersion: result.keyVersion,
        ...(result.plaintext ? { plaintext: b64(result.plaintext) } : {}),
      };
    },
    true,
  );
  crypto(
    'rewrap',
    'kms.rewrap',
    RewrapBody,
    CiphertextView,
    'Re-encrypt under the primary version',
    async (request) => {
      const result = noted(
        request,
        await app.kmsCrypto.rewrap(
          keyRef(request.params),
          fromBase64(request.body.ciphertext, 'ciphertext'),
          aadOf(request.body.aad),
        ),
      );
      return { ciphertext: b64(result.ciphertext), keyVersion: result.keyVersion };
    },
  );
  crypto('sign', 'kms.sign', SignBody, SignatureView, 'Sign data or a digest', async (request) => {
    const result = noted(
      request,
      await app.kmsCrypto.sign(keyRef(request.params), signInput(request.body), request.body.keyVersion),
    );
    return { signature: b64(result.signature), keyVersion: result.keyVersion };
  });
  crypto('verify', 'kms.verify', VerifyBody, ValidView, 'Verify a signature', async (request) =>
    noted(
      request,
      await app.kmsCrypto.verify(
        keyRef(request.params),
        signInput(request.body),
        fromBase64(request.body.signature, 'signature'),
        request.body.keyVersion,
      ),
    ),
  );
  crypto('mac', 'kms.mac', MacBody, MacView, 'Compute an HMAC', async (request) => {
    const result = noted(
      request,
      await app.kmsCrypto.mac(
        keyRef(request.params),
        fromBase64(request.body.data, 'data'),
        request.body.keyVersion,
      ),
    );
    return { mac: b64(result.mac), keyVersion: result.keyVersion };
  });
  crypto('verify-mac', 'kms.verify_mac', VerifyMacBody, ValidView, 'Verify an HMAC', async (request) =>
    noted(
      request,
      await app.kmsCrypto.verifyMac(
        keyRef(request.params),
        fromBase64(request.body.data, 'data'),
        fromBase64(request.body.mac, 'mac'),
        request.body.keyVersion,
      ),
    ),
  );
}
