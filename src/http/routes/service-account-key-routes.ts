import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { PageOf, PageQuery } from '../../core/api/common-schemas.ts';
import {
  CreateServiceAccountKeyBody,
  ServiceAccountKeyFile,
  ServiceAccountKeyView,
  TokenExchangeBody,
  TokenExchangeView,
} from '../../core/api/service-account-key-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { parseDurationSeconds } from '../../core/durations.ts';
import { errors } from '../../core/errors.ts';
import { tokenEndpointPath } from '../../core/service-account-key-names.ts';
import type { Principal } from '../../iam/principal.ts';
import type { ServiceAccountKey } from '../../iam/service-account-key-repo.ts';
import { claimedKeyId } from '../../iam/service-account-key-service.ts';
import { pageView } from '../page-view.ts';
import { registerAccountCredentialRoutes } from './account-credential-routes.ts';
import { clientAddress } from '../client-address.ts';

const AccountParams = Type.Object({
  projectId: Type.String({ maxLength: 64 }),
  email: Type.String({ maxLength: 320 }),
});
const KeyParams = Type.Object({
  projectId: Type.String({ maxLength: 64 }),
  email: Type.String({ maxLength: 320 }),
  keyId: Type.String({ maxLength: 64 }),
});
type AccountParams = Static<typeof AccountParams>;
type KeyParams = Static<typeof KeyParams>;
type PageQueryString = Static<typeof PageQuery>;
const accountName = (p: Record<string, string>) => `projects/${p.projectId}/service-accounts/${p.email}`;
const keysPath = '/v2/projects/:projectId/service-accounts/:email/keys';

function keyView(key: ServiceAccountKey, withPublicKey = false): ServiceAccountKeyView {
  return {
    name: `projects/${key.projectId}/service-accounts/${key.serviceAccount}/keys/${key.id}`,
    keyId: key.id,
    serviceAccount: key.serviceAccount,
    algorithm: key.algorithm,
    disabled: key.disabled,
    createTime: toRfc3339(key.createTimeMs),
    expireTime: key.expireTimeMs === null ? null : toRfc3339(key.expireTimeMs),
    ...(withPublicKey ? { publicKey: key.publicKey } : {}),
  };
}

/**
 * Service-account keys (issue 13 §2): create (the private key is answered once, as a key file),
 * list, get, disable, enable, delete; and `POST /v2/auth/token`, which exchanges an assertion signed
 * with a key for a bearer token (unauthenticated, like the login; rate-limited and audited).
 */
export function registerServiceAccountKeyRoutes(server: FastifyInstance, app: App): void {
  const tags = ['iam'];

  server.post<{ Params: AccountParams; Body: CreateServiceAccountKeyBody }>(
    keysPath,
    {
      config: {
        guard: {
          permission: 'iam.service_account_keys.create',
          alsoNeeds: ['iam.service_accounts.act_as'],
          resource: accountName,
        },
        noStore: true,
      },
      schema: {
        tags,
        summary: 'Create a key pair; the private key is answered once, as a JSON key file',
        params: AccountParams,
        body: CreateServiceAccountKeyBody,
        response: { 201: ServiceAccountKeyFile },
      },
    },
    async (request, reply) => {
      const { algorithm, expireTime } = request.body ?? {};
      const expireTimeMs = expireTime === undefined ? undefined : Date.parse(expireTime);
      if (expireTimeMs !== undefined && Number.isNaN(expireTimeMs))
        throw errors.invalid('expireTime is not a timestamp.');
      const created = await app.serviceAccountKeys.createKey(
        request.params.projectId,
        request.params.email,
        algorithm ?? 'RS256',
        expireTimeMs,
        request.principal!,
      );
      request.auditDetails = { keyId: created.key.id, algorithm: created.key.algorithm };
      return reply.code(201).send({
        type: 'service_account',
        projectId: created.key.projectId,
        clientEmail: created.key.serviceAccount,
        privateKeyId: created.key.id,
        privateKey: created.privateKeyPem,
        tokenUri: app.serviceAccountKeys.tokenUri,
        algorithm: created.key.algorithm,
      });
    },
  );

  server.get<{ Params: AccountParams; Querystring: PageQueryString }>(
    keysPath,
    {
      config: { guard: { permission: 'iam.service_account_keys.list', resource: accountName } },
      schema: {
        tags,
        summary: 'List a service account’s keys (metadata only)',
        params: AccountParams,
        querystring: PageQuery,
        response: { 200: PageOf(ServiceAccountKeyView) },
      },
    },
    async (request) => {
      const page = await app.serviceAccountKeys.listKeys(
        request.params.projectId,
        request.params.email,
        request.query.pageSize,
        request.query.pageToken,
      );
      return pageView(page, (key) => keyView(key));
    },
  );

  server.get<{ Params: KeyParams }>(
    `${keysPath}/:keyId`,
    {
      config: { guard: { permission: 'iam.service_account_keys.get', resource: accountName } },
      schema: {
        tags,
        summary: 'Get a service account’s key (with its public key)',
        params: KeyParams,
        response: { 200: ServiceAccountKeyView },
      },
    },
    async (request) => {
      const { projectId, email, keyId } = request.params;
      return keyView(await app.serviceAccountKeys.getKey(projectId, email, keyId), true);
    },
  );

  registerAccountCredentialRoutes(server, {
    itemPath: `${keysPath}/:keyId`,
    idParam: 'keyId',
    params: KeyParams,
    view: ServiceAccountKeyView,
    guards: {
      disable: { permission: 'iam.service_account_keys.disable', resource: accountName },
      // Enabling revives a credential of the account: like minting one, it needs act_as.
      enable: {
        permission: 'iam.service_account_keys.enable',
        alsoNeeds: ['iam.service_accounts.act_as'],
        resource: accountName,
      },
      delete: { permission: 'iam.service_account_keys.delete', resource: accountName },
    },
    summaries: {
      disable: 'Disable a key: its exchanges stop and its tokens are revoked at once',
      enable: 'Enable a disabled key (its old tokens stay revoked)',
      delete: 'Delete a key: its exchanges stop and its tokens are revoked at once',
    },
    setDisabled: async ({ projectId, email }, keyId, disabled, by) =>
      keyView(await app.serviceAccountKeys.setKeyDisabled(projectId, email, keyId, disabled, by)),
    remove: ({ projectId, email }, keyId, by) =>
      app.serviceAccountKeys.deleteKey(projectId, email, keyId, by),
  });

  server.post<{ Body: TokenExchangeBody }>(
    tokenEndpointPath,
    {
      config: { public: true, noStore: true, audit: 'auth.token' },
      // A malformed request spends the failure budget too (checked in the handler).
      attachValidation: true,
      schema: {
        tags,
        summary: 'Exchange a JWT assertion signed with a service-account key for a token (RFC 7523)',
        body: TokenExchangeBody,
        response: { 200: TokenExchangeView },
      },
    },
    async (request) => {
      if (request.validationError) {
        app.serviceAccountKeys.refuseMalformed(clientAddress(request));
        throw request.validationError;
      }
      let ttl: number | undefined;
      try {
        ttl = request.body.ttl === undefined ? undefined : parseDurationSeconds(request.body.ttl, 'ttl');
      } catch (err) {
        app.serviceAccountKeys.refuseMalformed(clientAddress(request));
        throw err;
      }
      // As claimed, until verified: the assertion itself is never audited or logged.
      const keyId = claimedKeyId(request.body.assertion);
      if (keyId !== undefined) request.auditDetails = { keyId };
      // A token issued now would not work until the node is unsealed; say so instead (the SDK retries).
      if (app.barrier.sealed) throw errors.sealed();
      const exchanged = await app.serviceAccountKeys.exchange(
        request.body.assertion,
        ttl,
        clientAddress(request),
      );
      request.principal = exchanged.principal as Principal;
      request.auditDetails = { keyId: exchanged.keyId, tokenId: exchanged.tokenId };
      return { token: exchanged.token, expireTime: toRfc3339(exchanged.expireTimeMs) };
    },
  );
}
