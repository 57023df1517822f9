import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { App } from '../app/app.ts';
import { version } from '../app/version.ts';
import { ConfigError } from '../core/config.ts';
import { createClientErrorHandler } from './client-error-handler.ts';
import { mapError } from './error-mapper.ts';
import { capConnections, serverTimeoutOptions } from './listener-limits.ts';
import { registerConsoleRoutes } from './console-routes.ts';
import { auditAnswer, registerAudit } from './plugins/audit-plugin.ts';
import { guardRequest, registerGuard } from './plugins/guard-plugin.ts';
import { lazyChildLoggerFactory, RequestLogController } from './request-logging.ts';
import { routeConfig } from './route-guard.ts';
import { registerAuditRoutes } from './routes/audit-routes.ts';
import { registerBackupRoutes } from './routes/backup-routes.ts';
import { registerMetricsRoutes } from './routes/metrics-routes.ts';
import { registerRequestMetrics } from './request-metrics-hook.ts';
import { registerChangesRoutes } from './routes/changes-routes.ts';
import { registerIamRoutes } from './routes/iam-routes.ts';
import { registerKmsRoutes } from './routes/kms-routes.ts';
import { registerInstanceRoutes } from './routes/instance-routes.ts';
import { registerDatabaseRoutes } from './routes/database-routes.ts';
import { registerLeaseRoutes } from './routes/lease-routes.ts';
import { registerSecretValueRoutes } from './routes/secret-value-routes.ts';
import { registerSecretsRoutes } from './routes/secrets-routes.ts';
import { registerRotationRoutes } from './routes/rotation-routes.ts';
import { registerServiceAccountKeyRoutes } from './routes/service-account-key-routes.ts';
import { registerAccessKeyRoutes } from './routes/access-key-routes.ts';
import { registerProjectRoutes } from './routes/projects-routes.ts';
import { registerSysRoutes } from './routes/sys-routes.ts';
import { registerUserRoutes } from './routes/user-routes.ts';
import { schemaValidatorCompiler } from './validators.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import { registerAwsFace } from '../aws/aws-face.ts';
import { awsOperations } from '../aws/operations.ts';
import { clientAddress, limiterKey } from './client-address.ts';

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

function tlsOptions(app: App): { key: Buffer; cert: Buffer } | undefined {
  const tls = app.config.tls;
  if (!tls) return undefined;
  const read = (path: string, field: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(field, `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  return { cert: read(tls.certFile, 'tls.certFile'), key: read(tls.keyFile, 'tls.keyFile') };
}

/** Options of `buildServer`. */
export interface BuildServerOptions {
  /**
   * Requests wait for this before anything else runs: the server binds its port first and finishes
   * starting (the file seal's first initialization) afterwards, and no caller sees that moment.
   */
  readonly startGate?: Promise<void>;
  /** The built web console's folder (default dist/ui; tests use their own). */
  readonly consoleDir?: string;
}

/**
 * Builds the HTTP server (not yet listening): request ids, the access guard, schema validation with
 * unknown fields refused, one error mapper, the OpenAPI description, and every route.
 */
export async function buildServer(app: App, options: BuildServerOptions = {}): Promise<FastifyInstance> {
  const https = tlsOptions(app);
  const timeouts = serverTimeoutOptions(app.config);
  const server = Fastify({
    loggerInstance: app.logger,
    ...(https ? { https: { ...https, ...timeouts } } : { http: timeouts }),
    requestTimeout: app.config.requestTimeoutMs,
    keepAliveTimeout: app.config.keepAliveTimeoutMs,
    connectionTimeout: app.config.idleTimeoutMs,
    clientErrorHandler: createClientErrorHandler(app.logger),
    bodyLimit: app.config.bodyLimitBytes,
    requestIdHeader: false,
    logController: new RequestLogController(app.logger, 'requestId'),
    // request.log binds the request id when the request first logs a line (request-logging.ts).
    childLoggerFactory: lazyChildLoggerFactory,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && requestIdPattern.test(given) ? given : newTimeOrderedUuid();
    },
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 2048 },
    // A URL the router cannot decode (`/ui/%ZZ`, an over-long parameter): Coffer's error answer,
    // not Fastify's own body (which echoed the path).
    frameworkErrors: (err: { statusCode?: number }, request: FastifyRequest, reply: FastifyReply) =>
      void reply.code(err.statusCode ?? 400).send({
        error: { code: 'invalid_argument', message: 'The URL is malformed.', requestId: String(request.id) },
      }),
    // Behind a load balancer, request.ip is the client X-Forwarded-For names (limits and audit read it
    // through clientAddress, which falls back to the peer when it is no IP address), but
    // only when the hop that says so is a configured proxy.
    trustProxy: app.config.trustProxy.length > 0 ? [...app.config.trustProxy] : false,
  }) as unknown as FastifyInstance;

  capConnections(server.server, app.config, app.logger);
  server.setValidatorCompiler(schemaValidatorCompiler());

  // One onRequest hook for every request, callback style (a public route makes no promise): wait
  // for the start gate, drop an empty body's content type, then the access check (guard-plugin.ts).
  const gate = options.startGate;
  let open = gate === undefined;
  void gate?.then(() => {
    open = true;
  });
  // A callback-style hook may return a promise instead of calling `done` (Fastify's hook runner
  // waits for either): each path below does exactly one of the two, with no closure for `done`.
  const onRequest = (request: FastifyRequest, done: (err?: Error) => void): Promise<void> | undefined => {
    // An empty body declared as JSON (curl -X DELETE -H 'content-type: application/json') is no body.
    const headers = request.headers;
    const length = headers['content-length'];
    if ((length === undefined || length === '0') && headers['transfer-encoding'] === undefined)
      delete headers['content-type'];
    const checking = guardRequest(app, request); // a synchronous refusal throws to the runner
    if (checking) return checking;
    done();
    return undefined;
  };
  server.addHook('onRequest', (request, _reply, done) => {
    if (open) return onRequest(request, done);
    // Before the start gate opens: wait, then run the hook with callbacks only.
    void gate!.then(() => {
      try {
        onRequest(request, done)?.then(() => done(), done);
      } catch (err) {
        done(err as Error);
      }
    });
    return undefined;
  });

  server.setErrorHandler((err, request, reply) => {
    const mapped = mapError(err);
    app.metrics.requests.failed(mapped.code);
    if (mapped.unexpected) request.log.error({ err }, 'unexpected error');
    else if (mapped.status >= 500) request.log.warn({ code: mapped.code }, mapped.message);
    if (mapped.retryAfterSeconds !== undefined)
      void reply.header('retry-after', String(mapped.retryAfterSeconds));
    return reply.code(mapped.status).send({
      error: { ...mapped.details, code: mapped.code, message: mapped.message, requestId: String(request.id) },
    });
  });

  server.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: {
        code: 'not_found',
        message: `No route ${request.method} ${request.url.split('?')[0]}.`,
        requestId: String(request.id),
      },
    }),
  );

  // One onSend hook: the request id and no-store headers, then the audit (audit-plugin.ts), which
  // holds the answer until its event is durable.
  server.addHook('onSend', (request, reply, payload, done) => {
    void reply.header('x-request-id', String(request.id));
    if (routeConfig(request).noStore) void reply.header('cache-control', 'no-store');
    const audited = auditAnswer(app, request, reply, payload);
    if (audited) return audited;
    done(null, payload);
    return undefined;
  });

  await server.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Coffer API', version, description: 'Secrets Manager with a built-in KMS' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  registerGuard(server);
  registerRequestMetrics(server, app);
  registerAudit(server, app);
  registerSysRoutes(server, app);
  registerMetricsRoutes(server, app);
  registerProjectRoutes(server, app);
  registerKmsRoutes(server, app);
  registerIamRoutes(server, app);
  registerUserRoutes(server, app);
  registerServiceAccountKeyRoutes(server, app);
  registerAccessKeyRoutes(server, app);
  registerAuditRoutes(server, app);
  registerBackupRoutes(server, app);
  registerChangesRoutes(server, app);
  registerInstanceRoutes(server, app);
  registerSecretsRoutes(server, app);
  registerSecretValueRoutes(server, app);
  registerDatabaseRoutes(server, app);
  registerLeaseRoutes(server, app);
  registerRotationRoutes(server, app);
  // The AWS-compatible face (POST /, docs/aws.md): same listener, its own context and error shape.
  await registerAwsFace(server, app, { operations: awsOperations(app), clientAddress, limiterKey });
  registerConsoleRoutes(server, options.consoleDir === undefined ? {} : { dir: options.consoleDir });
  return server;
}
