import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { RotateAnswer } from '../../core/api/rotation-schemas.ts';
import { type P, SecretParams, callerOf, guard, loc, secName } from './secrets-route-shared.ts';

/**
 * `POST …/instances/{i}/secrets/{secret}/rotate` (issue 15 §1, the issue's `:rotate`): runs the
 * secret's rotation now — the four steps in this request, or the rest of a rotation in progress from
 * the step it reached. Each step is audited as `secrets.secrets.rotate` {step, result, version};
 * a failed step answers its error (`target_failed`, 503) and shows in `rotationStatus`.
 */
export function registerRotationRoutes(server: FastifyInstance, app: App): void {
  server.post<{ Params: P }>(
    '/v2/projects/:projectId/regions/:regionId/instances/:instanceId/secrets/:secret/rotate',
    {
      config: guard('secrets.secrets.rotate', secName),
      schema: {
        tags: ['secrets'],
        summary: 'Rotate a secret now with its rotator (create, set, test, finish)',
        params: SecretParams,
        response: { 200: RotateAnswer },
      },
    },
    async (request) => {
      const p = request.params;
      return app.rotation.rotateNow(loc(p), p.instanceId!, p.secret!, callerOf(request));
    },
  );
}
