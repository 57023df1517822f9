import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { PageOf } from '../../core/api/common-schemas.ts';
import { IssuedTokenView, TokenInfoView, UserStateView } from '../../core/api/iam-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { rootResource } from '../route-guard.ts';

const UserParams = Type.Object({ user: Type.String({ maxLength: 320 }) });
const UserTokenParams = Type.Object({
  user: Type.String({ maxLength: 320 }),
  tokenId: Type.String({ maxLength: 64 }),
});
type UserParams = Static<typeof UserParams>;
type UserTokenParams = Static<typeof UserTokenParams>;
const root = () => rootResource;
// A user segment followed by a `:verb` (find-my-way needs the parameter's pattern to end before the colon).
const userSegment = ':user(^[^:/]+)';

/**
 * Revocation (issue 12): disable and enable users, list and end a user's sessions, rotate the root
 * token. Every permission is held at the root (roles/owner only, see role-escalation.ts).
 */
export function registerUserRoutes(server: FastifyInstance, app: App): void {
  const tags = ['iam'];
  for (const action of ['disable', 'enable'] as const) {
    server.post<{ Params: UserParams }>(
      `/v2/users/${userSegment}::${action}`,
      {
        config: { guard: { permission: `iam.users.${action}`, resource: root } },
        schema: {
          tags,
          summary:
            action === 'disable'
              ? 'Disable a user: its logins are refused and its sessions end at once'
              : 'Enable a disabled user (its old sessions stay ended)',
          params: UserParams,
          response: { 200: UserStateView },
        },
      },
      async (request) => {
        request.auditDetails = { user: request.params.user };
        return app.users.setUserDisabled(request.params.user, action === 'disable', request.principal!);
      },
    );
  }

  server.get<{ Params: UserParams }>(
    '/v2/users/:user/tokens',
    {
      config: { guard: { permission: 'iam.user_tokens.list', resource: root } },
      schema: {
        tags,
        summary: 'List a user’s sessions (metadata only)',
        params: UserParams,
        response: { 200: PageOf(TokenInfoView) },
      },
    },
    async (request) => {
      request.auditDetails = { user: request.params.user };
      const tokens = await app.users.listUserTokens(request.params.user);
      return {
        items: tokens.map((t) => ({
          id: t.id,
          createTime: toRfc3339(t.createTimeMs),
          expireTime: t.expireTimeMs === null ? null : toRfc3339(t.expireTimeMs),
        })),
      };
    },
  );

  server.delete<{ Params: UserTokenParams }>(
    '/v2/users/:user/tokens/:tokenId',
    {
      config: { guard: { permission: 'iam.user_tokens.delete', resource: root } },
      schema: { tags, summary: 'End one of a user’s sessions', params: UserTokenParams },
    },
    async (request, reply) => {
      request.auditDetails = { user: request.params.user, tokenId: request.params.tokenId };
      await app.users.revokeUserToken(request.params.user, request.params.tokenId);
      return reply.code(204).send();
    },
  );

  server.post(
    '/v2/sys/root-token::rotate',
    {
      config: { guard: { permission: 'sys.root_token.rotate', resource: root }, noStore: true },
      schema: {
        tags: ['sys'],
        summary: 'Replace the root token; the old one stops working (the new one is shown once)',
        response: { 200: IssuedTokenView },
      },
    },
    async (request) => {
      const issued = await app.users.rotateRootToken(request.principal!);
      request.auditDetails = { tokenId: issued.id };
      return {
        id: issued.id,
        token: issued.token,
        createTime: toRfc3339(issued.createTimeMs),
        expireTime: null,
      };
    },
  );
}
