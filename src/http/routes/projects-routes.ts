import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { PageOf, PageQuery } from '../../core/api/common-schemas.ts';
import {
  CreateProjectBody,
  ProjectView,
  RegionView,
  UpdateProjectBody,
} from '../../core/api/projects-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import type { Project } from '../../projects/project-types.ts';
import { etagOf } from '../etag.ts';
import { pageView } from '../page-view.ts';
import { rootResource } from '../route-guard.ts';

/** The API view of a project. */
export function projectView(project: Project): ProjectView {
  return {
    id: project.id,
    displayName: project.displayName,
    awsAccountId: project.awsAccountId,
    features: project.features,
    etag: project.etag,
    createTime: toRfc3339(project.createTimeMs),
    updateTime: toRfc3339(project.updateTimeMs),
  };
}

const ProjectParams = Type.Object({ projectId: Type.String({ maxLength: 64 }) });
type ProjectParams = Static<typeof ProjectParams>;
type PageQueryString = Static<typeof PageQuery>;

/** Projects and regions (`/v2/projects`, `/v2/regions`). */
export function registerProjectRoutes(server: FastifyInstance, app: App): void {
  server.post<{ Body: CreateProjectBody }>(
    '/v2/projects',
    {
      config: { guard: { permission: 'projects.create', resource: () => rootResource } },
      schema: {
        tags: ['projects'],
        summary: 'Create a project',
        body: CreateProjectBody,
        response: { 201: ProjectView },
      },
    },
    async (request, reply) => reply.code(201).send(projectView(await app.projects.create(request.body))),
  );

  server.get<{ Querystring: PageQueryString }>(
    '/v2/projects',
    {
      // Any principal may list; the answer holds the projects it may read (all with projects.list at the root).
      config: {
        guard: { permission: 'authenticated', auditAction: 'projects.list', resource: () => rootResource },
      },
      schema: {
        tags: ['projects'],
        summary: 'List the projects the caller may read',
        querystring: PageQuery,
        response: { 200: PageOf(ProjectView) },
      },
    },
    async (request) => {
      const principal = request.principal!;
      const { pageSize, pageToken } = request.query;
      const page = (await app.authorizer.holds(principal, 'projects.list', rootResource))
        ? await app.projects.list(pageSize, pageToken)
        : await app.projects.listVisible(pageSize, pageToken, (project) =>
            app.authorizer.holds(principal, 'projects.get', `projects/${project.id}`),
          );
      return pageView(page, projectView);
    },
  );

  server.get<{ Params: ProjectParams }>(
    '/v2/projects/:projectId',
    {
      config: { guard: { permission: 'projects.get', resource: (p) => `projects/${p.projectId}` } },
      schema: {
        tags: ['projects'],
        summary: 'Get a project',
        params: ProjectParams,
        response: { 200: ProjectView },
      },
    },
    async (request) => projectView(await app.projects.get(request.params.projectId)),
  );

  server.patch<{ Params: ProjectParams; Body: UpdateProjectBody }>(
    '/v2/projects/:projectId',
    {
      config: { guard: { permission: 'projects.update', resource: (p) => `projects/${p.projectId}` } },
      schema: {
        tags: ['projects'],
        summary:
          'Update a project’s display name or feature gates (If-Match or etag for optimistic concurrency)',
        params: ProjectParams,
        body: UpdateProjectBody,
        response: { 200: ProjectView },
      },
    },
    async (request) => {
      const { etag: bodyEtag, ...changes } = request.body;
      return projectView(
        await app.projects.update(request.params.projectId, changes, etagOf(request, bodyEtag)),
      );
    },
  );

  server.get<{ Querystring: PageQueryString }>(
    '/v2/regions',
    {
      config: { guard: { permission: 'regions.list', resource: () => rootResource } },
      schema: {
        tags: ['projects'],
        summary: 'List the regions this server offers',
        querystring: PageQuery,
        response: { 200: PageOf(RegionView) },
      },
    },
    async (request) => {
      const page = app.projects.listRegions(request.query.pageSize, request.query.pageToken);
      return { items: page.items, ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) };
    },
  );
}
