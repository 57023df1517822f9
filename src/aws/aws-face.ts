/**
 * The AWS JSON 1.1 face (issue 18, docs/aws.md): `POST /` on the API's listener with
 * `X-Amz-Target: secretsmanager.<Operation>` or `TrentService.<Operation>`, SigV4 on every request,
 * AWS's error bodies (`{"__type", "message"}` and `x-amzn-ErrorType`) and `x-amzn-RequestId` on
 * every answer. Each operation is a translation onto the same services as /v2 (operations.ts),
 * authorized and audited through its AwsCall (aws-call.ts). In its own Fastify context: its body
 * parser reads raw bytes (SigV4 hashes them) and its error handler answers framework errors (a body
 * over the limit: 413) in AWS's shape.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../app/app.ts';
import { pendingAudit, type PendingAudit } from '../audit/audit-outbox.ts';
import { CofferError } from '../core/errors.ts';
import type { AwsIdentity } from '../iam/access-key-service.ts';
import { AwsRequestCall } from './aws-call.ts';
import { AwsError, awsErrorOf, type AwsService } from './aws-errors.ts';
import { parseJsonBody, validateInput } from './aws-input.ts';
import type { AwsOperation } from './aws-operation.ts';

/** Operations by service, then by operation name (`GetSecretValue`). */
export type AwsRegistry = Readonly<Record<AwsService, Readonly<Record<string, AwsOperation>>>>;
import {
  deriveSigningKey,
  forgetSigningKeys,
  parseAuthorization,
  signingKeyCached,
  verifySignature,
} from './sigv4.ts';
import { AwsTestMode } from './test-mode.ts';

/** An authenticated request's identity and region. */
interface Authenticated {
  readonly identity: AwsIdentity;
  readonly regionId: string;
}

/** What the face needs from the HTTP layer (the caller's address as the limiters and audit see it). */
export interface AwsFaceOptions {
  readonly clientAddress: (request: FastifyRequest) => string;
  readonly limiterKey: (request: FastifyRequest) => string;
  /** The operations (`awsOperations(app)` of operations.ts; tests pass their own). */
  readonly operations: AwsRegistry;
}

const targetServices: Readonly<Record<string, AwsService>> = {
  secretsmanager: 'secretsmanager',
  TrentService: 'kms',
};

const noBody = Buffer.alloc(0);

/** The Content-Types AWS's SDKs send (the face reads any body as raw bytes all the same). */
const awsContentTypes = ['application/x-amz-json-1.1', 'application/x-amz-json-1.0', 'application/json'];

const jsonTypes = /^application\/(?:x-amz-json-1\.[01]|json)\s*(?:;|$)/i;

/** Errors of authentication: they spend the address's failed-auth budget. */
const authErrors = new Set([
  'MissingAuthenticationTokenException',
  'IncompleteSignatureException',
  'InvalidSignatureException',
  'UnrecognizedClientException',
]);

const unrecognized = () =>
  new AwsError('UnrecognizedClientException', 'The security token included in the request is invalid.');

/**
 * Whether an unauthenticated test-mode reset comes from a local client (a test suite), not from a
 * web page: browsers send Origin (and Sec-Fetch-Site) with every cross-site or same-site POST, so a
 * page cannot wipe the node (CSRF), and a Host other than a loopback name (DNS rebinding) is refused.
 */
export function fromLocalClient(headers: IncomingHttpHeaders): boolean {
  if (headers.origin !== undefined) return false;
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'none') return false;
  const host = (headers.host ?? '').toLowerCase();
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  return name === 'localhost' || name === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(name);
}

function sendError(reply: FastifyReply, error: AwsError): FastifyReply {
  return reply
    .code(error.status)
    .header('x-amzn-errortype', error.type)
    .header('content-type', 'application/x-amz-json-1.1')
    .send(JSON.stringify({ __type: error.type, message: error.message }));
}

/** Registers `POST /` (and, in test mode, `POST /moto-api/reset`) in a context of their own. */
export async function registerAwsFace(
  server: FastifyInstance,
  app: App,
  options: AwsFaceOptions,
): Promise<void> {
  const registry = options.operations;
  const testMode = new AwsTestMode(app);
  // Signing keys derive from secrets: dropped with every other cached key (seal included).
  app.cacheInvalidation.subscribe((what) => {
    if (what === 'all') forgetSigningKeys();
  });
  const face = new AwsFace(app, registry, testMode, options);
  await server.register(async (context) => {
    // x-amzn-RequestId on every answer of the face: set by each handler, and by the error handler for
    // what fails before one runs (the server's hooks, the body parser), with no hook of its own.
    context.removeAllContentTypeParsers();
    const rawBytes = (_request: FastifyRequest, body: Buffer, done: (err: null, body: Buffer) => void) =>
      done(null, body);
    // The same parser under the face's own types too: Fastify caches a parser found by its exact
    // type, never the catch-all, which would parse the Content-Type header again on every request.
    for (const type of awsContentTypes) context.addContentTypeParser(type, { parseAs: 'buffer' }, rawBytes);
    context.addContentTypeParser('*', { parseAs: 'buffer' }, rawBytes);
    context.setErrorHandler((err, request, reply) => {
      void reply.header('x-amzn-requestid', String(request.id));
      const code = (err as { code?: string }).code;
      if (code === 'FST_ERR_CTP_BODY_TOO_LARGE')
        return sendError(
          reply,
          new AwsError(
            'ValidationException',
            `The request body is larger than ${app.config.bodyLimitBytes} bytes.`,
            413,
          ),
        );
      if (err instanceof CofferError && err.code === 'rate_limited') {
        if (err.retryAfterSeconds !== undefined)
          void reply.header('retry-after', String(err.retryAfterSeconds));
        return sendError(reply, new AwsError('ThrottlingException', 'Rate exceeded', 400));
      }
      if (err instanceof AwsError || err instanceof CofferError)
        return sendError(reply, awsErrorOf(err, 'kms'));
      const status = (err as { statusCode?: number }).statusCode;
      if (status !== undefined && status >= 400 && status < 500)
        return sendError(
          reply,
          new AwsError('SerializationException', 'The request could not be read.', status),
        );
      request.log.error({ err }, 'unexpected error');
      return sendError(reply, new AwsError('InternalFailure', 'An internal error occurred.', 500));
    });
    context.post('/', { config: { noStore: true }, schema: { hide: true } }, (request, reply) =>
      face.handle(request, reply),
    );
    if (app.config.aws.test.enabled)
      context.post('/moto-api/reset', { schema: { hide: true } }, async (request, reply) => {
        if (!fromLocalClient(request.headers))
          throw new AwsError(
            'AccessDeniedException',
            'The reset is refused from a browser page (Origin or Sec-Fetch-Site) and through a host name that is not loopback.',
            403,
          );
        await testMode.reset(options.clientAddress(request), String(request.id));
        return reply.code(200).header('x-amzn-requestid', String(request.id)).send({ status: 'ok' });
      });
  });
}

/** One AWS request, from its target to its answer. */
class AwsFace {
  readonly #app: App;
  readonly #registry: AwsRegistry;
  readonly #testMode: AwsTestMode;
  readonly #options: AwsFaceOptions;

  constructor(app: App, registry: AwsRegistry, testMode: AwsTestMode, options: AwsFaceOptions) {
    this.#app = app;
    this.#registry = registry;
    this.#testMode = testMode;
    this.#options = options;
  }

  async handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const requestId = String(request.id);
    void reply.header('x-amzn-requestid', requestId);
    let service: AwsService = 'kms';
    let call: AwsRequestCall | undefined;
    let pending: PendingAudit | undefined;
    try {
      const target = request.headers['x-amz-target'];
      const dot = typeof target === 'string' ? target.indexOf('.') : -1;
      const known = dot > 0 ? targetServices[(target as string).slice(0, dot)] : undefined;
      const operationName = dot > 0 ? (target as string).slice(dot + 1) : '';
      const operation = known
        ? Object.hasOwn(this.#registry[known], operationName)
          ? this.#registry[known][operationName]
          : undefined
        : undefined;
      if (!known || !operation)
        throw new AwsError(
          'UnknownOperationException',
          'The requested operation is not recognized by the service.',
        );
      service = known;
      const body = Buffer.isBuffer(request.body) ? request.body : noBody;
      const { identity, regionId } = await this.#authenticate(request, service, body);
      call = await this.#call(request, requestId, service, operationName, identity, regionId);
      const contentType = request.headers['content-type'];
      if (contentType !== undefined && !jsonTypes.test(contentType))
        throw new AwsError('SerializationException', 'Content-Type must be application/x-amz-json-1.1.');
      const input = parseJsonBody(body);
      validateInput(operation.input, input);
      let result: Record<string, unknown>;
      if (operation.changesState) {
        pending = { id: call.event.id, event: call.event, written: false };
        result = await pendingAudit.run(pending, () => run(operation, call!, input));
      } else result = await run(operation, call, input);
      try {
        await call.finish(200, 'ok', pending);
      } catch (err) {
        // Fail closed: the answer (a value, a plaintext) is withheld when its event is not durable.
        const mapped = awsErrorOf(err, service);
        throw mapped.status >= 500
          ? mapped
          : new AwsError('ServiceUnavailableException', mapped.message, 503);
      }
      return reply
        .code(200)
        .header('content-type', 'application/x-amz-json-1.1')
        .send(JSON.stringify(result));
    } catch (err) {
      const error = awsErrorOf(err, service);
      if (!(err instanceof AwsError || err instanceof CofferError))
        request.log.error({ err }, 'unexpected error');
      else if (error.status >= 500) request.log.warn({ type: error.type }, error.message);
      if (call !== undefined && call.event.status === 0) {
        const result = error.type === 'AccessDeniedException' ? 'denied' : 'error';
        await call.finish(error.status, result, pending).catch((auditErr: unknown) => {
          // An error answer reveals nothing: it is kept (the audit failure is logged).
          request.log.warn({ err: auditErr }, 'audit of an AWS error answer failed');
        });
      }
      return sendError(reply, error);
    }
  }

  /**
   * SigV4: the scope's region, the key, its secret, the signature; spends the failed-auth budget on a
   * refusal. Waits only for what no cache holds (an identity, a signing key not derived yet).
   */
  async #authenticate(request: FastifyRequest, service: AwsService, body: Buffer): Promise<Authenticated> {
    const app = this.#app;
    const address = this.#options.limiterKey(request);
    const waitSeconds = app.failedAuthLimiter.blocked(address);
    if (waitSeconds > 0)
      throw new CofferError('rate_limited', 'Too many failed authentications.', {
        retryAfterSeconds: waitSeconds,
      });
    try {
      const auth = parseAuthorization(request.headers, service, app.clock.nowMs());
      if (app.barrier.sealed) throw new CofferError('sealed', 'Coffer is sealed.');
      // The region before any key lookup: signing keys are derived (and cached) for valid scopes only.
      if (!this.#kmsRegion(auth.region))
        throw new AwsError('InvalidSignatureException', 'Credential should be scoped to a valid region.');
      const id = auth.accessKeyId;
      const identity = this.#testMode.matches(id)
        ? (this.#testMode.identityCached() ?? (await this.#testMode.identity()))
        : (app.accessKeys.identifyCached(id) ?? (await app.accessKeys.identify(id)));
      if (!identity) throw unrecognized();
      const secret = identity.secretAccessKey;
      const signingKey = signingKeyCached(auth, secret) ?? (await deriveSigningKey(auth, secret));
      verifySignature(auth, signingKey, {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body,
      });
      return { identity, regionId: auth.region };
    } catch (err) {
      if (err instanceof AwsError && authErrors.has(err.type)) {
        app.failedAuthLimiter.take(address);
        app.unauthenticatedAudit.record(address, false);
      }
      throw err;
    }
  }

  /** Whether a credential scope's region is a Coffer region with KMS (configured, or `aws.regions: auto`). */
  #kmsRegion(regionId: string): boolean {
    const app = this.#app;
    const region = app.config.regions.find((r) => r.id === regionId);
    if (region !== undefined) return region.kms;
    try {
      return app.projects.region(regionId).kms;
    } catch {
      return false;
    }
  }

  /** The call of an authenticated request: its limits, project, account and feature gate. */
  async #call(
    request: FastifyRequest,
    requestId: string,
    service: AwsService,
    operation: string,
    identity: AwsIdentity,
    regionId: string,
  ): Promise<AwsRequestCall> {
    const app = this.#app;
    const perPrincipal = app.principalLimiter.take(identity.principal);
    if (perPrincipal > 0)
      throw new CofferError('rate_limited', 'Rate exceeded', { retryAfterSeconds: perPrincipal });
    const project = await app.projects.find(identity.projectId);
    if (!project) throw unrecognized();
    const userAgent = request.headers['user-agent'];
    const call = new AwsRequestCall(app, {
      service,
      operation,
      principal: identity.principal,
      projectId: project.id,
      accountId: project.awsAccountId,
      regionId,
      requestId,
      sourceIp: this.#options.clientAddress(request),
      userAgent: typeof userAgent === 'string' ? userAgent : undefined,
    });
    const feature = service === 'kms' ? 'kms' : 'secrets';
    if (!project.features[feature])
      throw new AwsError('AccessDeniedException', `The ${feature} feature is disabled for this account.`);
    return call;
  }
}

function run(operation: AwsOperation, call: AwsRequestCall, input: Record<string, unknown>) {
  return operation.handler(call, input as never);
}
