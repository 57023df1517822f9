import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../../iam/principal.ts';
import type { RouteGuard } from '../route-guard.ts';

/** The project and e-mail of the service account a credential route names. */
export interface AccountRef {
  readonly projectId: string;
  readonly email: string;
}

/**
 * One kind of a service account's credential (its key pairs, its AWS access keys), as its disable,
 * enable and delete routes need it. Each caller spells out its own guards.
 */
export interface AccountCredentialRoutes {
  /** The path of one credential, ending in `/:<idParam>`. */
  readonly itemPath: string;
  /** The path parameter naming the credential; also the name of its audit detail. */
  readonly idParam: string;
  /** The TypeBox schema of the path parameters (`projectId`, `email`, `idParam`). */
  readonly params: TSchema;
  /** The TypeBox schema of the credential's view, answered by disable and enable. */
  readonly view: TSchema;
  readonly guards: { readonly disable: RouteGuard; readonly enable: RouteGuard; readonly delete: RouteGuard };
  readonly summaries: { readonly disable: string; readonly enable: string; readonly delete: string };
  /** Disables or enables the credential and answers its view. */
  setDisabled(account: AccountRef, id: string, disabled: boolean, by: Principal): Promise<unknown>;
  /** Deletes the credential. */
  remove(account: AccountRef, id: string, by: Principal): Promise<void>;
}

/** The path parameters of one credential: its account's, and the credential's id under `idParam`. */
type CredentialParams = AccountRef & Record<string, string>;

/**
 * Registers `POST <itemPath>/disable`, `POST <itemPath>/enable` and `DELETE <itemPath>` for one kind
 * of a service account's credential; each audits the credential's id.
 */
export function registerAccountCredentialRoutes(
  server: FastifyInstance,
  routes: AccountCredentialRoutes,
): void {
  const tags = ['iam'];
  const { idParam, params } = routes;
  for (const action of ['disable', 'enable'] as const) {
    server.post<{ Params: CredentialParams }>(
      `${routes.itemPath}/${action}`,
      {
        config: { guard: routes.guards[action] },
        schema: { tags, summary: routes.summaries[action], params, response: { 200: routes.view } },
      },
      async (request) => {
        const { projectId, email } = request.params;
        const id = request.params[idParam]!;
        request.auditDetails = { [idParam]: id };
        return routes.setDisabled({ projectId, email }, id, action === 'disable', request.principal!);
      },
    );
  }

  server.delete<{ Params: CredentialParams }>(
    routes.itemPath,
    { config: { guard: routes.guards.delete }, schema: { tags, summary: routes.summaries.delete, params } },
    async (request, reply) => {
      const { projectId, email } = request.params;
      const id = request.params[idParam]!;
      request.auditDetails = { [idParam]: id };
      await routes.remove({ projectId, email }, id, request.principal!);
      return reply.code(204).send();
    },
  );
}
