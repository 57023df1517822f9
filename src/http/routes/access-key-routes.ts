import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import {
  AccessKeyView,
  CreatedAccessKeyView,
  CreateOwnAccessKeyBody,
} from '../../core/api/access-key-schemas.ts';
import { PageOf, PageQuery } from '../../core/api/common-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import type { AccessKey, CreatedAccessKey } from '../../iam/access-key-service.ts';
import { pageView } from '../page-view.ts';
import { registerAccountCredentialRoutes } from './account-credential-routes.ts';
import { rootResource } from '../route-guard.ts';

const AccountParams = Type.Object({
  projectId: Type.String({ maxLength: 64 }),
  email: Type.String({ maxLength: 320 }),
});
const AccountKeyParams = Type.Object({
  projectId: Type.String({ maxLength: 64 }),
  email: Type.String({ maxLength: 320 }),
  accessKeyId: Type.String({ maxLength: 64 }),
});
const UserParams = Type.Object({ user: Type.String({ maxLength: 320 }) });
const UserKeyParams = Type.Object({
  user: Type.String({ maxLength: 320 }),
  accessKeyId: Type.String({ maxLength: 64 }),
});
const KeyParams = Type.Object({ accessKeyId: Type.String({ maxLength: 64 }) });
type AccountParams = Static<typeof AccountParams>;
type UserParams = Static<typeof UserParams>;
type UserKeyParams = Static<typeof UserKeyParams>;
type KeyParams = Static<typeof KeyParams>;
type PageQueryString = Static<typeof PageQuery>;

const accountName = (p: Record<string, string>) => `projects/${p.projectId}/service-accounts/${p.email}`;
const accountPath = '/v2/projects/:projectId/service-accounts/:email/access-keys';
const ownPath = '/v2/access-keys';
const userPath = '/v2/users/:user/access-keys';
const root = () => rootResource;

function keyView(key: AccessKey): AccessKeyView {
  return {
    accessKeyId: key.accessKeyId,
    principal: key.principal,
    projectId: key.projectId,
    disabled: key.disabled,
    createTime: toRfc3339(key.createTimeMs),
  };
}

async function createdView(app: App, created: CreatedAccessKey): Promise<CreatedAccessKeyView> {
  const project = await app.projects.get(created.key.projectId);
  return {
    ...keyView(created.key),
    secretAccessKey: created.secretAccessKey,
    awsAccountId: project.awsAccountId,
  };
}

/**
 * AWS access keys (issue 18, docs/aws.md): a service account's (minted by whoever holds
 * `iam.access_keys.create` and act_as on it), and a user's own (`/v2/access-keys`: only the user
 * mints or revives one; holders of `iam.access_keys.*` at the root may list, disable and delete any
 * user's). The secret is answered once, by the create call.
 */
export function registerAccessKeyRoutes(server: FastifyInstance, app: App): void {
  const tags = ['iam'];

  server.post<{ Params: AccountParams }>(
    accountPath,
    {
      config: {
        guard: {
          permission: 'iam.access_keys.create',
          alsoNeeds: ['iam.service_accounts.act_as'],
          resource: accountName,
        },
        noStore: true,
      },
      schema: {
        tags,
        summary: 'Create an AWS access key for a service account; the secret is answered once',
        params: AccountParams,
        response: { 201: CreatedAccessKeyView },
      },
    },
    async (request, reply) => {
      const { projectId, email } = request.params;
      const created = await app.accessKeys.createForServiceAccount(projectId, email, request.principal!);
      request.auditDetails = { accessKeyId: created.key.accessKeyId };
      return reply.code(201).send(await createdView(app, created));
    },
  );

  server.get<{ Params: AccountParams; Querystring: PageQueryString }>(
    accountPath,
    {
      config: { guard: { permission: 'iam.access_keys.list', resource: accountName } },
      schema: {
        tags,
        summary: 'List a service account’s AWS access keys (never their secrets)',
        params: AccountParams,
        querystring: PageQuery,
        response: { 200: PageOf(AccessKeyView) },
      },
    },
    async (request) => {
      const { projectId, email } = request.params;
      const { pageSize, pageToken } = request.query;
      return pageView(
        await app.accessKeys.listForServiceAccount(projectId, email, pageSize, pageToken),
        keyView,
      );
    },
  );

  registerAccountCredentialRoutes(server, {
    itemPath: `${accountPath}/:accessKeyId`,
    idParam: 'accessKeyId',
    params: AccountKeyParams,
    view: AccessKeyView,
    guards: {
      disable: { permission: 'iam.access_keys.disable', resource: accountName },
      // Enabling revives a credential of the account: like minting one, it needs act_as.
      enable: {
        permission: 'iam.access_keys.enable',
        alsoNeeds: ['iam.service_accounts.act_as'],
        resource: accountName,
      },
      delete: { permission: 'iam.access_keys.delete', resource: accountName },
    },
    summaries: {
      disable: 'Disable a service account’s AWS access key: refused at once',
      enable: 'Enable a disabled AWS access key of a service account',
      delete: 'Delete a service account’s AWS access key',
    },
    setDisabled: async ({ projectId, email }, accessKeyId, disabled, by) =>
      keyView(await app.accessKeys.setServiceAccountKeyDisabled(projectId, email, accessKeyId, disabled, by)),
    remove: ({ projectId, email }, accessKeyId, by) =>
      app.accessKeys.deleteServiceAccountKey(projectId, email, accessKeyId, by),
  });

  // The caller's own keys (users only): no permission needed, the key carries the caller's rights.
  server.post<{ Body: CreateOwnAccessKeyBody }>(
    ownPath,
    {
      config: {
        guard: { permission: 'authenticated', auditAction: 'iam.access_keys.create', resource: root },
        noStore: true,
      },
      schema: {
        tags,
        summary:
          'Create an AWS access key of the calling user, acting in a project; the secret is answered once',
        body: CreateOwnAccessKeyBody,
        response: { 201: CreatedAccessKeyView },
      },
    },
    async (request, reply) => {
      const created = await app.accessKeys.createOwn(request.principal!, request.body.projectId);
      request.auditDetails = { accessKeyId: created.key.accessKeyId, projectId: created.key.projectId };
      return reply.code(201).send(await createdView(app, created));
    },
  );

  server.get<{ Querystring: PageQueryString }>(
    ownPath,
    {
      config: {
        guard: { permission: 'authenticated', auditAction: 'iam.access_keys.list', resource: root },
      },
      schema: {
        tags,
        summary: 'List the calling principal’s own AWS access keys',
        querystring: PageQuery,
        response: { 200: PageOf(AccessKeyView) },
      },
    },
    async (request) =>
      pageView(
        await app.accessKeys.list(request.principal!, request.query.pageSize, request.query.pageToken),
        keyView,
      ),
  );

  for (const action of ['disable', 'enable'] as const) {
    server.post<{ Params: KeyParams }>(
      `${ownPath}/:accessKeyId/${action}`,
      {
        config: {
          guard: { permission: 'authenticated', auditAction: `iam.access_keys.${action}`, resource: root },
        },
        schema: {
          tags,
          summary: `${action === 'disable' ? 'Disable' : 'Enable'} one of the calling user’s own AWS access keys`,
          params: KeyParams,
          response: { 200: AccessKeyView },
        },
      },
      async (request) => {
        const { accessKeyId } = request.params;
        request.auditDetails = { accessKeyId };
        return keyView(
          await app.accessKeys.setOwnDisabled(request.principal!, accessKeyId, action === 'disable'),
        );
      },
    );
  }

  server.delete<{ Params: KeyParams }>(
    `${ownPath}/:accessKeyId`,
    {
      config: {
        guard: { permission: 'authenticated', auditAction: 'iam.access_keys.delete', resource: root },
      },
      schema: { tags, summary: 'Delete one of the calling user’s own AWS access keys', params: KeyParams },
    },
    async (request, reply) => {
      const { accessKeyId } = request.params;
      request.auditDetails = { accessKeyId };
      await app.accessKeys.delete(request.principal!, accessKeyId, request.principal!);
      return reply.code(204).send();
    },
  );

  // Any user's keys, for administrators (held at the root): list, disable, delete; never mint or enable.
  server.get<{ Params: UserParams; Querystring: PageQueryString }>(
    userPath,
    {
      config: { guard: { permission: 'iam.access_keys.list', resource: root } },
      schema: {
        tags,
        summary: 'List a user’s AWS access keys (held at the root)',
        params: UserParams,
        querystring: PageQuery,
        response: { 200: PageOf(AccessKeyView) },
      },
    },
    async (request) =>
      pageView(
        await app.accessKeys.list(
          `user:${request.params.user}`,
          request.query.pageSize,
          request.query.pageToken,
        ),
        keyView,
      ),
  );

  server.post<{ Params: UserKeyParams }>(
    `${userPath}/:accessKeyId/disable`,
    {
      config: { guard: { permission: 'iam.access_keys.disable', resource: root } },
      schema: {
        tags,
        summary: 'Disable a user’s AWS access key (held at the root): refused at once',
        params: UserKeyParams,
        response: { 200: AccessKeyView },
      },
    },
    async (request) => {
      const { user, accessKeyId } = request.params;
      request.auditDetails = { accessKeyId };
      return keyView(await app.accessKeys.setDisabled(`user:${user}`, accessKeyId, true, request.principal!));
    },
  );

  server.delete<{ Params: UserKeyParams }>(
    `${userPath}/:accessKeyId`,
    {
      config: { guard: { permission: 'iam.access_keys.delete', resource: root } },
      schema: { tags, summary: 'Delete a user’s AWS access key (held at the root)', params: UserKeyParams },
    },
    async (request, reply) => {
      const { user, accessKeyId } = request.params;
      request.auditDetails = { accessKeyId };
      await app.accessKeys.delete(`user:${user}`, accessKeyId, request.principal!);
      return reply.code(204).send();
    },
  );
}
