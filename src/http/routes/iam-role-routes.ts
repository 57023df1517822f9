import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { PageOf } from '../../core/api/common-schemas.ts';
import { CreateRoleBody, PermissionView, RoleView } from '../../core/api/iam-schemas.ts';
import { permissionCatalogue } from '../../iam/permissions.ts';
import { predefinedRoles } from '../../iam/roles.ts';
import { rootResource } from '../route-guard.ts';

const ProjectParams = Type.Object({ projectId: Type.String({ maxLength: 64 }) });
type ProjectParams = Static<typeof ProjectParams>;
const projectName = (p: Record<string, string>) => `projects/${p.projectId}`;

/** The permission catalogue, the predefined roles, and a project's custom roles. */
export function registerIamRoleRoutes(server: FastifyInstance, app: App): void {
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
}
