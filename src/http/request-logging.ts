import {
  type FastifyBaseLogger,
  type FastifyServerOptions,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { LazyChildLogger, type Logger } from '../core/logger.ts';

/**
 * `request.log` without a pino child per request: the child that binds the request id (and runs
 * the redaction over its bindings) is made when the request first writes a line, not before.
 */
export const lazyChildLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = (
  logger,
  bindings,
  options,
) => new LazyChildLogger(logger as unknown as Logger, bindings, options) as unknown as FastifyBaseLogger;

/**
 * Fastify's per-request lines ("incoming request", "request completed") are info lines, built
 * (an object, the response time) before pino drops them below that level; here nothing is built
 * unless the level writes them. The other lines (stream errors, 503 while closing) are Fastify's.
 */
export class RequestLogController extends LogController {
  readonly #logger: Logger;

  constructor(logger: Logger, requestIdLogLabel: string) {
    super({ requestIdLogLabel });
    this.#logger = logger;
  }

  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    if (this.#logger.isLevelEnabled('info')) super.incomingRequest(request, reply);
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    // A completion with an error is an error line; without, an info line.
    if (this.#logger.isLevelEnabled(error ? 'error' : 'info')) super.requestCompleted(error, request, reply);
  }
}
