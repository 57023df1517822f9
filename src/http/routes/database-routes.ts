import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { PageQuery } from '../../core/api/common-schemas.ts';
import {
  CreateDatabaseBody,
  DatabasePage,
  DatabaseRolePage,
  DatabaseRoleView,
  DatabaseView,
  IssueCredentialBody,
  IssuedCredentialView,
  PutDatabaseRoleBody,
  UpdateDatabaseBody,
} from '../../core/api/database-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { formatDuration } from '../../core/durations.ts';
import { databaseName, databaseRoleName, leaseName } from '../../databases/database-fns.ts';
import type { DatabaseLocation, DbConnection, DbRole } from '../../databases/database-types.ts';
import { etagOf } from '../etag.ts';
import { noBodyIsEmpty } from './lease-routes.ts';
import { pageView } from '../page-view.ts';
import { callerOf, guard, InstanceParams, type P, s64 } from './secrets-route-shared.ts';

const DatabaseParams = Type.Object({
  projectId: s64(),
  regionId: s64(),
  instanceId: s64(),
  databaseId: s64(),
});
const RoleParams = Type.Object({
  projectId: s64(),
  regionId: s64(),
  instanceId: s64(),
  databaseId: s64(),
  roleId: s64(),
});
const location = (p: P): DatabaseLocation => ({
  projectId: p.projectId!,
  regionId: p.regionId!,
  instanceId: p.instanceId!,
});
const instanceResource = (p: P) => `projects/${p.projectId}/regions/${p.regionId}/instances/${p.instanceId}`;
const dbResource = (p: P) => databaseName(location(p), p.databaseId!);
const roleResource = (p: P) => databaseRoleName(location(p), p.databaseId!, p.roleId!);

/** The API view of a database connection (the admin secret as the reference given). */
function databaseView(c: DbConnection): DatabaseView {
  return {
    name: databaseName(c, c.name),
    id: c.name,
    host: c.host,
    port: c.port,
    database: c.database,
    adminSecret: c.adminSecret,
    ...(c.sslmode !== null ? { sslmode: c.sslmode as 'disable' | 'require' | 'verify-full' } : {}),
    maxOpenConnections: c.maxOpenConnections,
    etag: c.etag,
    createTime: toRfc3339(c.createTimeMs),
    updateTime: toRfc3339(c.updateTimeMs),
  };
}

/** The API view of a database role. */
function roleView(location: DatabaseLocation, database: string, r: DbRole): DatabaseRoleView {
  return {
    name: databaseRoleName(location, database, r.name),
    id: r.name,
    creationStatements: [...r.creationStatements],
    ...(r.revocationStatements !== null ? { revocationStatements: [...r.revocationStatements] } : {}),
    defaultTtl: formatDuration(r.defaultTtlSeconds),
    maxTtl: formatDuration(r.maxTtlSeconds),
    renewable: r.renewable,
    etag: r.etag,
    createTime: toRfc3339(r.createTimeMs),
    updateTime: toRfc3339(r.updateTimeMs),
  };
}

/**
 * Database connections, their roles and the issue of dynamic credentials (issue 15 §2). Leases
 * themselves are in lease-routes.ts.
 */
export function registerDatabaseRoutes(server: FastifyInstance, app: App): void {
  const tags = ['databases'];
  const base = '/v2/projects/:projectId/regions/:regionId/instances/:instanceId/databases';

  server.post<{ Params: P; Body: CreateDatabaseBody }>(
    base,
    {
      config: guard('secrets.databases.create', instanceResource),
      schema: {
        tags,
        summary: 'Create a database connection (the caller must be able to read adminSecret)',
        params: InstanceParams,
        body: CreateDatabaseBody,
        response: { 201: DatabaseView },
      },
    },
    async (request, reply) => {
      const connection = await app.databases.createConnection(
        location(request.params),
        request.body,
        request.principal!,
      );
      request.auditDetails = { database: connection.name };
      return reply.code(201).send(databaseView(connection));
    },
  );
  server.get<{ Params: P; Querystring: Static<typeof PageQuery> }>(
    base,
    {
      config: guard('secrets.databases.list', instanceResource),
      schema: {
        tags,
        summary: 'List database connections',
        params: InstanceParams,
        querystring: PageQuery,
        response: { 200: DatabasePage },
      },
    },
    async (request) =>
      pageView(
        await app.databases.listConnections(
          location(request.params),
          request.query.pageSize,
          request.query.pageToken,
        ),
        databaseView,
      ),
  );
  server.get<{ Params: P }>(
    `${base}/:databaseId`,
    {
      config: guard('secrets.databases.get', dbResource),
      schema: {
        tags,
        summary: 'Get a database connection',
        params: DatabaseParams,
        response: { 200: DatabaseView },
      },
    },
    async (request) =>
      databaseView(await app.databases.getConnection(location(request.params), request.params.databaseId!)),
  );
  server.patch<{ Params: P; Body: UpdateDatabaseBody }>(
    `${base}/:databaseId`,
    {
      config: guard('secrets.databases.update', dbResource),
      schema: {
        tags,
        summary:
          'Change a database connection (If-Match or etag; a new adminSecret must be readable by the caller)',
        params: DatabaseParams,
        body: UpdateDatabaseBody,
        response: { 200: DatabaseView },
      },
    },
    async (request) => {
      const { etag, ...patch } = request.body;
      return databaseView(
        await app.databases.updateConnection(
          location(request.params),
          request.params.databaseId!,
          patch,
          etagOf(request, etag),
          request.principal!,
        ),
      );
    },
  );
  server.delete<{ Params: P }>(
    `${base}/:databaseId`,
    {
      config: guard('secrets.databases.delete', dbResource),
      schema: {
        tags,
        summary: 'Delete a database connection and its roles (409 while leases are unrevoked)',
        params: DatabaseParams,
      },
    },
    async (request, reply) => {
      await app.databases.deleteConnection(
        location(request.params),
        request.params.databaseId!,
        etagOf(request, undefined),
      );
      return reply.code(204).send();
    },
  );

  server.put<{ Params: P; Body: PutDatabaseRoleBody }>(
    `${base}/:databaseId/roles/:roleId`,
    {
      config: guard('secrets.databases.update', roleResource),
      schema: {
        tags,
        summary:
          'Create or replace a database role (statement templates with {{name}}, {{password}}, {{expiration}})',
        params: RoleParams,
        body: PutDatabaseRoleBody,
        response: { 200: DatabaseRoleView, 201: DatabaseRoleView },
      },
    },
    async (request, reply) => {
      const p = request.params;
      const { etag, ...input } = request.body;
      const { role, created } = await app.databases.putRole(
        location(p),
        p.databaseId!,
        p.roleId!,
        input,
        etagOf(request, etag),
        request.principal!,
      );
      request.auditDetails = { created };
      return reply.code(created ? 201 : 200).send(roleView(location(p), p.databaseId!, role));
    },
  );
  server.get<{ Params: P; Querystring: Static<typeof PageQuery> }>(
    `${base}/:databaseId/roles`,
    {
      config: guard('secrets.databases.list', dbResource),
      schema: {
        tags,
        summary: 'List the roles of a database',
        params: DatabaseParams,
        querystring: PageQuery,
        response: { 200: DatabaseRolePage },
      },
    },
    async (request) => {
      const p = request.params;
      const page = await app.databases.listRoles(
        location(p),
        p.databaseId!,
        request.query.pageSize,
        request.query.pageToken,
      );
      return pageView(page, (r) => roleView(location(p), p.databaseId!, r));
    },
  );
  server.get<{ Params: P }>(
    `${base}/:databaseId/roles/:roleId`,
    {
      config: guard('secrets.databases.get', roleResource),
      schema: {
        tags,
        summary: 'Get a database role',
        params: RoleParams,
        response: { 200: DatabaseRoleView },
      },
    },
    async (request) => {
      const p = request.params;
      const { role } = await app.databases.getRole(location(p), p.databaseId!, p.roleId!);
      return roleView(location(p), p.databaseId!, role);
    },
  );
  server.delete<{ Params: P }>(
    `${base}/:databaseId/roles/:roleId`,
    {
      config: guard('secrets.databases.delete', roleResource),
      schema: {
        tags,
        summary: 'Delete a database role (409 while leases are unrevoked)',
        params: RoleParams,
      },
    },
    async (request, reply) => {
      const p = request.params;
      await app.databases.deleteRole(location(p), p.databaseId!, p.roleId!, etagOf(request, undefined));
      return reply.code(204).send();
    },
  );

  server.post<{ Params: P; Body: IssueCredentialBody | undefined }>(
    `${base}/:databaseId/roles/:roleId/issue`,
    {
      config: { ...guard('secrets.leases.issue', roleResource), noStore: true },
      preValidation: noBodyIsEmpty,
      schema: {
        tags,
        summary:
          'Issue a dynamic credential (the password is shown once; the lease revokes it at expireTime)',
        params: RoleParams,
        body: Type.Optional(IssueCredentialBody),
        response: { 200: IssuedCredentialView },
      },
    },
    async (request) => {
      const p = request.params;
      const { username, password, lease } = await app.databaseCredentials.issue(
        location(p),
        p.databaseId!,
        p.roleId!,
        request.body?.ttl,
        callerOf(request),
      );
      request.auditDetails = { lease: lease.id, username };
      return {
        username,
        password,
        lease: {
          id: lease.id,
          name: leaseName(lease),
          ttl: Math.round((lease.expireTimeMs - lease.issueTimeMs) / 1000),
          renewable: lease.renewable,
          expireTime: toRfc3339(lease.expireTimeMs),
          maxExpireTime: toRfc3339(lease.maxExpireTimeMs),
        },
      };
    },
  );
}
