import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { ErrorBody } from '../../core/api/common-schemas.ts';
import {
  HealthView,
  InitBody,
  InitView,
  SealStatusQuery,
  SealStatusView,
  UnsealBody,
} from '../../core/api/sys-schemas.ts';
import { CofferError } from '../../core/errors.ts';
import { limiterAddress } from '../../iam/limiter-address.ts';
import { auditNow } from '../plugins/audit-plugin.ts';
import { rootResource } from '../route-guard.ts';
import { clientAddress } from '../client-address.ts';

const shareBytes = 33;

function decodeShare(key: string): Buffer {
  const bytes = Buffer.from(key, 'base64');
  if (bytes.length !== shareBytes || bytes.toString('base64') !== key) {
    throw new CofferError('invalid_argument', 'key must be one base64 unseal share as printed by init.');
  }
  return bytes;
}

/** Health, seal and initialization routes (`/v2/health`, `/v2/sys/*`). */
export function registerSysRoutes(server: FastifyInstance, app: App): void {
  server.get(
    '/v2/health',
    {
      config: { public: true },
      schema: { tags: ['sys'], summary: 'Node health', response: { 200: HealthView, 503: HealthView } },
    },
    async (_request, reply) => {
      const health = await app.health();
      return reply.code(health.status === 'sealed' ? 503 : 200).send(health);
    },
  );

  server.get<{ Querystring: SealStatusQuery }>(
    '/v2/sys/seal-status',
    {
      config: { public: true },
      schema: {
        tags: ['sys'],
        summary: 'Seal status (with ?nonce=, that unseal attempt’s progress)',
        querystring: SealStatusQuery,
        response: { 200: SealStatusView },
      },
    },
    async (request) => app.sealStatus(request.query.nonce),
  );

  server.post<{ Body: InitBody }>(
    '/v2/sys/init',
    {
      config: { public: true, noStore: true, audit: 'sys.init' },
      schema: {
        tags: ['sys'],
        summary: 'Initialize a Shamir-sealed node; returns the shares and the first admin token once',
        body: InitBody,
        response: { 200: InitView, 409: ErrorBody },
      },
    },
    async (request) => app.initialize(request.body.secretShares, request.body.secretThreshold),
  );

  server.post<{ Body: UnsealBody }>(
    '/v2/sys/unseal',
    {
      config: { public: true, audit: 'sys.unseal' },
      schema: {
        tags: ['sys'],
        summary: 'Give one unseal share',
        body: UnsealBody,
        response: { 200: SealStatusView },
      },
    },
    async (request) => {
      const { key, reset, nonce } = request.body;
      const wait = app.sensitiveLimiter.blocked(`unseal:${limiterAddress(clientAddress(request))}`);
      if (wait > 0) {
        throw new CofferError('rate_limited', 'Too many failed unseal attempts; retry later.', {
          retryAfterSeconds: wait,
        });
      }
      if (key === undefined && !reset) {
        throw new CofferError('invalid_argument', 'Give key (one share) or reset: true.');
      }
      try {
        const status = await app.unseal(
          key === undefined ? undefined : decodeShare(key),
          reset ?? false,
          nonce,
          limiterAddress(clientAddress(request)),
        );
        // Starting an attempt spends the caller's budget too: nobody fills the attempt slots for free.
        if (key !== undefined && (nonce === undefined || reset) && status.sealed) {
          app.sensitiveLimiter.take(`unseal:${limiterAddress(clientAddress(request))}`);
        }
        return status;
      } catch (err) {
        // Failed attempts (a wrong or malformed share) spend the caller's budget; good ones do not.
        if (err instanceof CofferError && err.code === 'invalid_argument') {
          app.sensitiveLimiter.take(`unseal:${limiterAddress(clientAddress(request))}`);
        }
        throw err;
      }
    },
  );

  server.post(
    '/v2/sys/seal',
    {
      config: { guard: { permission: 'sys.seal', resource: () => rootResource } },
      schema: { tags: ['sys'], summary: 'Seal this node', response: { 200: SealStatusView } },
    },
    async (request, reply) => {
      // The seal's event is made durable first, so the checkpoint signed while sealing covers it.
      // Sealing is the safe action and reveals nothing: it happens whatever audit storage does.
      let auditFailure: unknown;
      try {
        await auditNow(app, request, reply);
      } catch (err) {
        auditFailure = err;
        // Still queued, the event is written if storage recovers; onSend must not add a second one.
        request.audited = true;
      }
      try {
        await app.seal();
      } catch (err) {
        auditFailure ??= err;
      }
      app.logger.warn({ principal: request.principal }, 'sealed by request');
      if (auditFailure !== undefined) {
        app.logger.error(
          { err: (auditFailure as Error).message },
          'sealed, but the seal could not be audited',
        );
        throw new CofferError(
          'audit_unavailable',
          'The node IS sealed, but its audit event or the signed audit head could not be made durable (storage failing or too slow).',
          { cause: auditFailure },
        );
      }
      return app.barrier.status();
    },
  );

  server.get(
    '/v2/openapi.json',
    {
      config: {
        guard: { permission: 'authenticated', auditAction: 'sys.openapi.get', resource: () => rootResource },
      },
      schema: {
        tags: ['sys'],
        summary: 'This API’s OpenAPI 3 description',
        response: { 200: Type.Object({}, { additionalProperties: true }) },
      },
    },
    async () => server.swagger(),
  );
}
