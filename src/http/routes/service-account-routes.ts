import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { PageOf, PageQuery } from '../../core/api/common-schemas.ts';
import {
  CreateServiceAccountBody,
  CreateTokenBody,
  IssuedTokenView,
  ServiceAccountView,
  TokenInfoView,
} from '../../core/api/iam-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { parseDurationSeconds } from '../../core/durations.ts';
import { errors } from '../../core/errors.ts';
import type { ServiceAccount } from '../../iam/iam-repo.ts';
import { pageView } from '../page-view.ts';

type Params = Record<string, string>;
const id = () => Type.String({ maxLength: 64 });

function serviceAccountView(account: ServiceAccount): ServiceAccountView {
  return {
    email: account.email,
    name: account.name,
    projectId: account.projectId,
    displayName: account.displayName,
    disabled: account.disabled,
    createTime: toRfc3339(account.createTimeMs),
  };
}

const ProjectParams = Type.Object({ projectId: id() });
const AccountParams = Type.Object({ projectId: id(), email: Type.String({ maxLength: 320 }) });
const TokenParams = Type.Object({ projectId: id(), email: Type.String({ maxLength: 320 }), tokenId: id() });
type ProjectParams = Static<typeof ProjectParams>;
type AccountParams = Static<typeof AccountParams>;
type TokenParams = Static<typeof TokenParams>;
type PageQueryString = Static<typeof PageQuery>;
const projectName = (p: Params) => `projects/${p.projectId}`;
const accountName = (p: Params) => `projects/${p.projectId}/service-accounts/${p.email}`;

/** Service accounts of a project and their API tokens. */
export function registerServiceAccountRoutes(server: FastifyInstance, app: App): void {
  const tags = ['iam'];

  server.post<{ Params: ProjectParams; Body: CreateServiceAccountBody }>(
    '/v2/projects/:projectId/service-accounts',
    {
      config: { guard: { permission: 'iam.service_accounts.create', resource: projectName } },
      schema: {
        tags,
        summary: 'Create a service account',
        params: ProjectParams,
        body: CreateServiceAccountBody,
        response: { 201: ServiceAccountView },
      },
    },
    async (request, reply) => {
      await app.projects.get(request.params.projectId);
      const { name, email, displayName } = request.body;
      const account = await app.iam.createServiceAccount(request.params.projectId, name, email, displayName);
      return reply.code(201).send(serviceAccountView(account));
    },
  );

  server.get<{ Params: ProjectParams; Querystring: PageQueryString }>(
    '/v2/projects/:projectId/service-accounts',
    {
      config: { guard: { permission: 'iam.service_accounts.list', resource: projectName } },
      schema: {
        tags,
        summary: 'List service accounts',
        params: ProjectParams,
        querystring: PageQuery,
        response: { 200: PageOf(ServiceAccountView) },
      },
    },
    async (request) => {
      await app.projects.get(request.params.projectId);
      const page = await app.iam.listServiceAccounts(
        request.params.projectId,
        request.query.pageSize,
        request.query.pageToken,
      );
      return pageView(page, serviceAccountView);
    },
  );

  server.get<{ Params: AccountParams }>(
    '/v2/projects/:projectId/service-accounts/:email',
    {
      config: { guard: { permission: 'iam.service_accounts.get', resource: accountName } },
      schema: {
        tags,
        summary: 'Get a service account',
        params: AccountParams,
        response: { 200: ServiceAccountView },
      },
    },
    async (request) =>
      serviceAccountView(await app.iam.getServiceAccount(request.params.projectId, request.params.email)),
  );

  for (const action of ['disable', 'enable'] as const) {
    server.post<{ Params: AccountParams }>(
      `/v2/projects/:projectId/service-accounts/:email/${action}`,
      {
        config: { guard: { permission: `iam.service_accounts.${action}`, resource: accountName } },
        schema: {
          tags,
          summary: `${action} a service account`,
          params: AccountParams,
          response: { 200: ServiceAccountView },
        },
      },
      async (request) =>
        serviceAccountView(
          await app.iam.setServiceAccountDisabled(
            request.params.projectId,
            request.params.email,
            action === 'disable',
          ),
        ),
    );
  }

  server.post<{ Params: AccountParams; Body: CreateTokenBody }>(
    '/v2/projects/:projectId/service-accounts/:email/tokens',
    {
      config: {
        guard: {
          permission: 'iam.service_account_tokens.create',
          alsoNeeds: ['iam.service_accounts.act_as'],
          resource: accountName,
        },
        noStore: true,
      },
      schema: {
        tags,
        summary: 'Issue an API token (shown once)',
        params: AccountParams,
        body: CreateTokenBody,
        response: { 201: IssuedTokenView },
      },
    },
    async (request, reply) => {
      const ttl = request.body.ttl === undefined ? undefined : parseDurationSeconds(request.body.ttl, 'ttl');
      if (ttl !== undefined && ttl < 1) throw errors.invalid('ttl must be at least 1s.');
      const issued = await app.iam.createToken(
        request.params.projectId,
        request.params.email,
        ttl,
        request.principal!,
      );
      request.auditDetails = { tokenId: issued.id };
      return reply.code(201).send({
        id: issued.id,
        token: issued.token,
        createTime: toRfc3339(issued.createTimeMs),
        expireTime: issued.expireTimeMs === null ? null : toRfc3339(issued.expireTimeMs),
      });
    },
  );

  server.get<{ Params: AccountParams }>(
    '/v2/projects/:projectId/service-accounts/:email/tokens',
    {
      config: { guard: { permission: 'iam.service_account_tokens.list', resource: accountName } },
      schema: {
        tags,
        summary: 'List a service account’s tokens',
        params: AccountParams,
        response: { 200: PageOf(TokenInfoView) },
      },
    },
    async (request) => {
      const tokens = await app.iam.listTokens(request.params.projectId, request.params.email);
      return {
        items: tokens.map((t) => ({
          id: t.id,
          createTime: toRfc3339(t.createTimeMs),
          expireTime: t.expireTimeMs === null ? null : toRfc3339(t.expireTimeMs),
        })),
      };
    },
  );

  server.delete<{ Params: TokenParams }>(
    '/v2/projects/:projectId/service-accounts/:email/tokens/:tokenId',
    {
      config: { guard: { permission: 'iam.service_account_tokens.delete', resource: accountName } },
      schema: { tags, summary: 'Revoke a token', params: TokenParams },
    },
    async (request, reply) => {
      request.auditDetails = { tokenId: request.params.tokenId };
      await app.iam.revokeToken(request.params.projectId, request.params.email, request.params.tokenId);
      return reply.code(204).send();
    },
  );
}
