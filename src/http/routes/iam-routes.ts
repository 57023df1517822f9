import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { CreateUserBody, LoginBody, LoginView } from '../../core/api/iam-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import type { Principal } from '../../iam/principal.ts';
import { rootResource } from '../route-guard.ts';
import { registerIamPolicyRoutes } from './iam-policy-routes.ts';
import { registerIamRoleRoutes } from './iam-role-routes.ts';
import { registerServiceAccountRoutes } from './service-account-routes.ts';
import { clientAddress } from '../client-address.ts';
import { bearerOf } from '../plugins/guard-plugin.ts';

/** IAM: policies on every resource kind, roles, permissions, users and logins, service accounts and tokens. */
export function registerIamRoutes(server: FastifyInstance, app: App): void {
  registerIamPolicyRoutes(server, app);
  registerIamRoleRoutes(server, app);
  const tags = ['iam'];

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
      const session = await app.users.login(
        request.body.email,
        request.body.password,
        clientAddress(request),
      );
      request.principal = session.principal as Principal;
      return { token: session.token, expireTime: toRfc3339(session.expireTimeMs) };
    },
  );

  server.post(
    '/v2/auth/logout',
    {
      // Any principal ends its own session (Vault's token revoke-self): no permission to hold.
      config: {
        guard: { permission: 'authenticated', auditAction: 'auth.logout', resource: () => rootResource },
      },
      schema: {
        tags,
        summary: 'Log out: revoke the token of this request (a session or a service account token)',
      },
    },
    async (request, reply) => {
      const { tokenId } = await app.users.logout(bearerOf(request), request.principal!);
      if (tokenId !== undefined) request.auditDetails = { tokenId };
      return reply.code(204).send();
    },
  );

  registerServiceAccountRoutes(server, app);
}
