import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import {
  AddBindingBody,
  type BindingView,
  PolicyView,
  RemoveBindingBody,
  SetPolicyBody,
  TestPermissionsBody,
  TestPermissionsView,
} from '../../core/api/iam-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { errors } from '../../core/errors.ts';
import type { Binding } from '../../iam/iam-repo.ts';
import { etagOf } from '../etag.ts';
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
    prefix: '/v2/projects/:projectId/regions/:regionId/instances/:instanceId/databases/:databaseId',
    params: Type.Object({ projectId: id(), regionId: id(), instanceId: id(), databaseId: id() }),
    resource: (p) =>
      `projects/${p.projectId}/regions/${p.regionId}/instances/${p.instanceId}/databases/${p.databaseId}`,
    feature: 'secrets',
    exists: (app, p) =>
      app.databases.getConnection(
        { projectId: p.projectId!, regionId: p.regionId!, instanceId: p.instanceId! },
        p.databaseId!,
      ),
  },
  {
    prefix:
      '/v2/projects/:projectId/regions/:regionId/instances/:instanceId/databases/:databaseId/roles/:roleId',
    params: Type.Object({
      projectId: id(),
      regionId: id(),
      instanceId: id(),
      databaseId: id(),
      roleId: id(),
    }),
    resource: (p) =>
      `projects/${p.projectId}/regions/${p.regionId}/instances/${p.instanceId}/databases/${p.databaseId}/roles/${p.roleId}`,
    feature: 'secrets',
    exists: (app, p) =>
      app.databases.getRole(
        { projectId: p.projectId!, regionId: p.regionId!, instanceId: p.instanceId! },
        p.databaseId!,
        p.roleId!,
      ),
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

/** IAM policies on every resource kind that carries one: get, set, add and remove bindings, test permissions. */
export function registerIamPolicyRoutes(server: FastifyInstance, app: App): void {
  for (const target of policyTargets) registerPolicyRoutes(server, app, target);
}
