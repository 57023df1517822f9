import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { PageOf, PageQuery } from '../../core/api/common-schemas.ts';
import {
  AddBindingBody,
  type BindingView,
  CreateRoleBody,
  CreateServiceAccountBody,
  CreateTokenBody,
  CreateUserBody,
  IssuedTokenView,
  LoginBody,
  LoginView,
  PermissionView,
  PolicyView,
  RemoveBindingBody,
  RoleView,
  ServiceAccountView,
  SetPolicyBody,
  TestPermissionsBody,
  TestPermissionsView,
  TokenInfoView,
} from '../../core/api/iam-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { parseDurationSeconds } from '../../core/durations.ts';
import { errors } from '../../core/errors.ts';
import type { Binding, ServiceAccount } from '../../iam/iam-repo.ts';
import { permissionCatalogue } from '../../iam/permissions.ts';
import type { Principal } from '../../iam/principal.ts';
import { predefinedRoles } from '../../iam/roles.ts';
import { etagOf } from '../etag.ts';
import { pageView } from '../page-view.ts';
import { rootResource } from '../route-guard.ts';

type Params = Record<string, string>;

/** A kind of resource that carries a policy: its URL prefix, its name, its gate, and how to check it exists. */
interface PolicyTarget {
  readonly prefix: string;
  readonly params: ReturnType<typeof Type.Object>;
  readonly resource: (p: Params) => string;
  readonly feature?: 'kms' | 'secrets';
  readonly exists: (app: App, p: Params) => Promise<unknown>;
}

const id = () => Type.String({ maxLength: 64 });
const policyTargets: PolicyTarget[] = [
  { prefix: '/v2', params: Type.Object({}), resource: () => rootResource, exists: async () => undefined },
  {
    prefix: '/v2/projects/:projectId',
    params: Type.Object({ projectId: id() }),
    resource: (p) => `projects/${p.projectId}`,
    exists: (app, p) => app.projects.get(p.projectId!),
  },
  {
    prefix: '/v2/projects/:projectId/regions/:regionId/keyrings/:keyRingId',
    params: Type.Object({ projectId: id(), regionId: id(), keyRingId: id() }),
    resource: (p) => `projects/${p.projectId}/regions/${p.regionId}/keyrings/${p.keyRingId}`,
    feature: 'kms',
    exists: (app, p) => app.kms.getKeyRing({ projectId: p.projectId!, regionId: p.regionId! }, p.keyRingId!),
  },
  {
    prefix: '/v2/projects/:projectId/regions/:regionId/keyrings/:keyRingId/keys/:keyId',
    params: Type.Object({ projectId: id(), regionId: id(), keyRingId: id(), keyId: id() }),
    resource: (p) => `projects/${p.projectId}/regions/${p.regionId}/keyrings/${p.keyRingId}/keys/${p.keyId}`,
    feature: 'kms',
    exists: (app, p) =>
      app.kms.getKey({ projectId: p.projectId!, regionId: p.regionId! }, p.keyRingId!, p.keyId!),
  },
  {
    prefix: '/v2/projects/:projectId/regions/:regionId/instances/:instanceId',
    params: Type.Object({ projectId: id(), regionId: id(), instanceId: id() }),
    resource: (p) => `projects/${p.projectId}/regions/${p.regionId}/instances/${p.instanceId}`,
    feature: 'secrets',
    exists: (app, p) => app.instances.get({ projectId: p.projectId!, regionId: p.regionId! }, p.instanceId!),
  },
  {
    prefix: '/v2/projects/:projectId/regions/:regionId/instances/:instanceId/secrets/:secret',
    params: Type.Object({
      projectId: id(),
      regionId: id(),
      instanceId: id(),
      secret: Type.String({ maxLength: 1600 }),
    }),
    resource: (p) =>
      `projects/${p.projectId}/regions/${p.regionId}/instances/${p.instanceId}/secrets/${encodeURIComponent(p.secret ?? '')}`,
    feature: 'secrets',
    exists: (app, p) =>
      app.secrets.get({ projectId: p.projectId!, regionId: p.regionId! }, p.instanceId!, p.secret!),
  },
  {
    prefix: '/v2/projects/:projectId/service-accounts/:email',
    params: Type.Object({ projectId: id(), email: Type.String({ maxLength: 320 }) }),
    resource: (p) => `projects/${p.projectId}/service-accounts/${p.email}`,
    exists: (app, p) => app.iam.getServiceAccount(p.projectId!, p.email!),
  },
];

function toBinding(view: BindingView): Binding {
  const expiresAt = view.condition?.expiresAt;
  const expiresAtMs = expiresAt === undefined ? undefined : Date.parse(expiresAt);
  if (expiresAtMs !== undefined && Number.isNaN(expiresAtMs))
    throw errors.invalid('condition.expiresAt is not a timestamp.');
  return {
    role: view.role,
    members: view.members,
    ...(view.condition
      ? { condition: { title: view.condition.title, ...(expiresAtMs !== undefined ? { expiresAtMs } : {}) } }
      : {}),
  };
}

function bindingView(binding: Binding): BindingView {
  const condition = binding.condition;
  return {
    role: binding.role,
    members: [...binding.members],
    ...(condition
      ? {
          condition: {
            title: condition.title,
            ...(condition.expiresAtMs !== undefined ? { expiresAt: toRfc3339(condition.expiresAtMs) } : {}),
          },
        }
      : {}),
  };
}

function policyView(policy: { bindings: readonly Binding[]; etag: string }) {
  return { bindings: policy.bindings.map(bindingView), etag: policy.etag };
}

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

function registerPolicyRoutes(server: FastifyInstance, app: App, target: PolicyTarget): void {
  const guard = (permission: 'iam.policies.get' | 'iam.policies.set') => ({
    guard: { permission, resource: target.resource, ...(target.feature ? { feature: target.feature } : {}) },
  });
  const tags = ['iam'];
  server.get<{ Params: Params }>(
    `${target.prefix}/iam-policy`,
    {
      config: guard('iam.policies.get'),
      schema: { tags, summary: 'Get the IAM policy', params: target.params, response: { 200: PolicyView } },
    },
    async (request) => {
      await target.exists(app, request.params);
      return policyView(await app.iam.getPolicy(target.resource(request.params)));
    },
  );
  server.put<{ Params: Params; Body: SetPolicyBody }>(
    `${target.prefix}/iam-policy`,
    {
      config: guard('iam.policies.set'),
      schema: {
        tags,
        summary: 'Replace the IAM policy (If-Match or etag)',
        params: target.params,
        body: SetPolicyBody,
        response: { 200: PolicyView },
      },
    },
    async (request) => {
      await target.exists(app, request.params);
      const etag = etagOf(request, request.body.etag);
      return policyView(
        await app.iam.setPolicy(
          target.resource(request.params),
          request.body.bindings.map(toBinding),
          etag,
          request.principal!,
        ),
      );
    },
  );
  server.post<{ Params: Params; Body: AddBindingBody }>(
    `${target.prefix}/iam-policy::add-binding`,
    {
      config: guard('iam.policies.set'),
      schema: {
        tags,
        summary: 'Grant a role to a member',
        params: target.params,
        body: AddBindingBody,
        response: { 200: PolicyView },
      },
    },
    async (request) => {
      await target.exists(app, request.params);
      const { role, member, condition } = request.body;
      const binding = toBinding({ role, members: [member], ...(condition ? { condition } : {}) });
      return policyView(
        await app.iam.addBinding(
          target.resource(request.params),
          role,
          member,
          binding.condition,
          request.principal!,
        ),
      );
    },
  );
  server.post<{ Params: Params; Body: RemoveBindingBody }>(
    `${target.prefix}/iam-policy::remove-binding`,
    {
      config: guard('iam.policies.set'),
      schema: {
        tags,
        summary: 'Revoke a role from a member',
        params: target.params,
        body: RemoveBindingBody,
        response: { 200: PolicyView },
      },
    },
    async (request) => {
      await target.exists(app, request.params);
      return policyView(
        await app.iam.removeBinding(
          target.resource(request.params),
          request.body.role,
          request.body.member,
          request.principal!,
        ),
      );
    },
  );
  server.post<{ Params: Params; Body: TestPermissionsBody }>(
    `${target.prefix}/iam::test-permissions`,
    {
      config: {
        guard: {
          permission: 'authenticated',
          auditAction: 'iam.permissions.test',
          resource: target.resource,
        },
      },
      schema: {
        tags,
        summary: 'Which of these permissions the caller holds here',
        params: target.params,
        body: TestPermissionsBody,
        response: { 200: TestPermissionsView },
      },
    },
    async (request) => ({
      permissions: await app.iam.testPermissions(
        request.principal!,
        target.resource(request.params),
        request.body.permissions,
      ),
    }),
  );
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

/** IAM: policies on every resource kind, roles, permissions, users and logins, service accounts and tokens. */
export function registerIamRoutes(server: FastifyInstance, app: App): void {
  for (const target of policyTargets) registerPolicyRoutes(server, app, target);
  const tags = ['iam'];

  server.get(
    '/v2/permissions',
    {
      config: {
        guard: {
          permission: 'authenticated',
          auditAction: 'iam.permissions.list',
          resource: () => rootResource,
        },
      },
      schema: { tags, summary: 'The permission catalogue', response: { 200: PageOf(PermissionView) } },
    },
    async () => ({
      items: Object.entries(permissionCatalogue).map(([name, description]) => ({ name, description })),
    }),
  );

  server.get(
    '/v2/roles',
    {
      config: {
        guard: { permission: 'authenticated', auditAction: 'iam.roles.list', resource: () => rootResource },
      },
      schema: {
        tags,
        summary: 'The predefined roles and their exact permissions',
        response: { 200: PageOf(RoleView) },
      },
    },
    async () => ({
      items: Object.entries(predefinedRoles).map(([name, role]) => ({
        name,
        title: role.title,
        permissions: [...role.permissions],
      })),
    }),
  );

  server.post<{ Params: ProjectParams; Body: CreateRoleBody }>(
    '/v2/projects/:projectId/roles',
    {
      config: { guard: { permission: 'iam.roles.create', resource: projectName } },
      schema: {
        tags,
        summary: 'Create a custom role',
        params: ProjectParams,
        body: CreateRoleBody,
        response: { 201: RoleView },
      },
    },
    async (request, reply) => {
      await app.projects.get(request.params.projectId);
      const { roleId, title, permissions } = request.body;
      const role = await app.iam.createRole(request.params.projectId, roleId, title, permissions);
      return reply.code(201).send({ name: role.name, title: role.title, permissions: [...role.permissions] });
    },
  );

  server.get<{ Params: ProjectParams }>(
    '/v2/projects/:projectId/roles',
    {
      config: { guard: { permission: 'iam.roles.list', resource: projectName } },
      schema: {
        tags,
        summary: 'List custom roles',
        params: ProjectParams,
        response: { 200: PageOf(RoleView) },
      },
    },
    async (request) => {
      await app.projects.get(request.params.projectId);
      const roles = await app.iam.listRoles(request.params.projectId);
      return {
        items: roles.map((role) => ({
          name: role.name,
          title: role.title,
          permissions: [...role.permissions],
        })),
      };
    },
  );

  server.post<{ Body: CreateUserBody }>(
    '/v2/users',
    {
      config: { guard: { permission: 'iam.users.create', resource: () => rootResource } },
      schema: {
        tags,
        summary: 'Create a user',
        body: CreateUserBody,
        response: { 201: Type.Object({ email: Type.String() }) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await app.users.createUser(request.body.email, request.body.password)),
  );

  server.post<{ Body: LoginBody }>(
    '/v2/auth/login',
    {
      config: { public: true, noStore: true, audit: 'auth.login' },
      schema: {
        tags,
        summary: 'Log in with email and password',
        body: LoginBody,
        response: { 200: LoginView },
      },
    },
    async (request) => {
      request.auditDetails = { email: request.body.email };
      const session = await app.users.login(request.body.email, request.body.password, request.ip);
      request.principal = session.principal as Principal;
      return { token: session.token, expireTime: toRfc3339(session.expireTimeMs) };
    },
  );

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
