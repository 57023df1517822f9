import { randomUUID, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../core/logger.ts';
import { CofferApiError } from '../sdk/index.ts';
import type { AgentCache, CacheEntry } from './agent-cache.ts';
import { fetchErrorCode } from './agent-cache.ts';
import type { ListenConfig } from './agent-config.ts';
import type { AgentMetrics } from './agent-metrics.ts';
import { checkSecretPath, referenceKey, type SecretReference } from './secret-reference.ts';

/** What the listener serves from. */
export interface AgentListenerDeps {
  readonly listen: ListenConfig;
  readonly projectId: string;
  readonly cache: AgentCache;
  readonly metrics: AgentMetrics;
  readonly maxStaleMs: number;
  readonly logger: Logger;
}

const valueRoute = /^\/v2\/projects\/([^/]+)\/regions\/([^/]+)\/instances\/([^/]+)\/secrets\/([^/]+)\/value$/;
// A URL already seen maps straight to its cache key; bounded so that odd URLs cannot grow it forever.
const maxRememberedUrls = 10_000;

function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  requestId: string,
): void {
  const body = JSON.stringify({ error: { code, message, requestId } });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
  });
  res.end(body);
}

/**
 * The agent's local HTTP listener: `GET /v2/projects/{p}/regions/{r}/instances/{i}/secrets/{path}/value`
 * answered as the server answers it (same JSON, `Cache-Control: no-store`, `X-Request-Id`) from the
 * cache, plus `X-Coffer-Stale: <seconds>` while the feed is down, 503 past `maxStale`; `/metrics`
 * and `/health` for probes. On TCP every value read needs the listener token (constant-time check).
 */
export class AgentListener {
  readonly #deps: AgentListenerDeps;
  readonly #server: Server;
  readonly #expected: Buffer | undefined;
  readonly #urlKeys = new Map<string, string>();
  readonly #entryHeaders = new WeakMap<CacheEntry, Record<string, string | number>>();

  constructor(deps: AgentListenerDeps) {
    this.#deps = deps;
    this.#expected = deps.listen.token === undefined ? undefined : Buffer.from(`Bearer ${deps.listen.token}`);
    this.#server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
      try {
        this.#handle(req, res);
      } catch (err) {
        // Never let one request take the agent down.
        deps.logger.error({ err: (err as Error).message }, 'the listener failed to answer a request');
        if (!res.headersSent) sendError(res, 500, 'internal', 'The agent failed to answer.', randomUUID());
      }
    });
  }

  /** Starts listening; a unix socket is created with mode 0600. Returns where it listens. */
  async start(): Promise<string> {
    const listen = this.#deps.listen;
    if (listen.kind === 'unix') {
      try {
        if (lstatSync(listen.path).isSocket()) unlinkSync(listen.path);
      } catch {
        // nothing there
      }
      const previous = process.umask(0o177);
      try {
        this.#server.listen(listen.path);
      } finally {
        process.umask(previous);
      }
      await once(this.#server, 'listening');
      chmodSync(listen.path, 0o600);
      return `unix:${listen.path}`;
    }
    this.#server.listen(listen.port, listen.host);
    await once(this.#server, 'listening');
    const address = this.#server.address();
    const port = typeof address === 'object' && address ? address.port : listen.port;
    return `${listen.host}:${port}`;
  }

  /** Stops accepting and closes idle connections. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  #authorized(req: IncomingMessage): boolean {
    const expected = this.#expected;
    if (expected === undefined) return true;
    const header = req.headers.authorization;
    if (header === undefined || header.length !== expected.length) return false;
    const given = Buffer.from(header);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const requestHeader = req.headers['x-request-id'];
    const requestId =
      typeof requestHeader === 'string' && requestHeader.length <= 128 ? requestHeader : randomUUID();
    const key = this.#urlKeys.get(url);
    if (key !== undefined && req.method === 'GET') {
      const entry = this.#deps.cache.peek(key);
      if (entry !== undefined) {
        if (!this.#authorized(req)) return this.#unauthenticated(res, requestId);
        this.#deps.metrics.hits++;
        return this.#sendEntry(res, entry, requestId);
      }
    }
    if (url === '/health' || url === '/v2/health') return this.#health(res, requestId);
    if (url === '/metrics') return void this.#metrics(res, requestId);
    const query = url.indexOf('?');
    const match = valueRoute.exec(query < 0 ? url : url.slice(0, query));
    if (!match) return sendError(res, 404, 'not_found', 'No such route on the agent.', requestId);
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return sendError(
        res,
        405,
        'invalid_argument',
        'The agent serves secret values read-only (GET).',
        requestId,
      );
    if (!this.#authorized(req)) return this.#unauthenticated(res, requestId);
    let ref: SecretReference;
    let projectId: string;
    try {
      projectId = decodeURIComponent(match[1]!);
      ref = this.#reference(match, query < 0 ? '' : url.slice(query + 1));
    } catch (err) {
      return sendError(res, 400, 'invalid_argument', (err as Error).message, requestId);
    }
    if (projectId !== this.#deps.projectId)
      return sendError(
        res,
        403,
        'permission_denied',
        `This agent serves project ${this.#deps.projectId} only.`,
        requestId,
      );
    const refKey = referenceKey(ref);
    if (this.#urlKeys.size < maxRememberedUrls) this.#urlKeys.set(url, refKey);
    this.#deps.cache
      .get(ref)
      .then(
        (entry) => this.#sendEntry(res, entry, requestId),
        (err: unknown) => this.#fetchFailed(res, err, requestId),
      )
      .catch((err: unknown) => {
        this.#deps.logger.error({ err: (err as Error).message }, 'the listener failed to answer a request');
        res.destroy();
      });
  }

  #reference(match: RegExpExecArray, queryText: string): SecretReference {
    const path = decodeURIComponent(match[4]!);
    checkSecretPath(path);
    const query = new URLSearchParams(queryText);
    const versionText = query.get('version') ?? undefined;
    const stage = query.get('stage') ?? undefined;
    if (versionText !== undefined && versionText !== 'latest' && !/^[1-9]\d{0,9}$/.test(versionText))
      throw new Error('version must be a version number or latest.');
    return {
      regionId: decodeURIComponent(match[2]!),
      instanceId: decodeURIComponent(match[3]!),
      path,
      version: versionText === undefined || versionText === 'latest' ? undefined : Number(versionText),
      stage: stage === '' ? undefined : stage,
    };
  }

  #sendEntry(res: ServerResponse, entry: CacheEntry, requestId: string): void {
    const cache = this.#deps.cache;
    if (!cache.allCurrent) {
      const staleMs = cache.staleMs(entry);
      if (staleMs > this.#deps.maxStaleMs)
        return sendError(
          res,
          503,
          'unavailable',
          `The value has not been known current for ${Math.floor(staleMs / 1000)} s (the Coffer server cannot be reached or refuses the agent), longer than cache.maxStale; it is no longer served.`,
          requestId,
        );
      if (staleMs > 0) res.setHeader('x-coffer-stale', Math.floor(staleMs / 1000));
    }
    let headers = this.#entryHeaders.get(entry);
    if (headers === undefined) {
      headers = {
        'content-type': 'application/json; charset=utf-8',
        'content-length': entry.body.length,
        'cache-control': 'no-store',
      };
      this.#entryHeaders.set(entry, headers);
    }
    res.setHeader('x-request-id', requestId);
    res.writeHead(200, headers);
    res.end(entry.body);
  }

  #unauthenticated(res: ServerResponse, requestId: string): void {
    sendError(
      res,
      401,
      'unauthenticated',
      'The agent listener token is required (Authorization: Bearer).',
      requestId,
    );
  }

  #fetchFailed(res: ServerResponse, err: unknown, requestId: string): void {
    const code = fetchErrorCode(err);
    if (err instanceof CofferApiError && err.status < 500 && code !== 'unauthenticated')
      return sendError(res, err.status, code, err.message, requestId);
    // The agent's own credential failing is the agent's problem, not the local caller's.
    this.#deps.logger.warn({ code }, 'a secret read through the listener could not be fetched');
    sendError(
      res,
      503,
      'unavailable',
      code === 'unauthenticated'
        ? 'The agent cannot authenticate to the Coffer server; see the agent log.'
        : 'The Coffer server cannot be reached and this secret is not cached.',
      requestId,
    );
  }

  #health(res: ServerResponse, requestId: string): void {
    const staleMs = this.#deps.cache.maxStaleMs();
    const expired = staleMs > this.#deps.maxStaleMs;
    const body = JSON.stringify({
      status: expired ? 'stale' : 'ok',
      feed: this.#deps.cache.current ? 'connected' : 'disconnected',
      staleSeconds: Math.floor(staleMs / 1000),
      cachedSecrets: this.#deps.cache.size,
    });
    res.writeHead(expired ? 503 : 200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
    });
    res.end(body);
  }

  async #metrics(res: ServerResponse, requestId: string): Promise<void> {
    try {
      const text = await this.#deps.metrics.registry.metrics();
      res.writeHead(200, {
        'content-type': this.#deps.metrics.registry.contentType,
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    } catch (err) {
      this.#deps.logger.error({ err: (err as Error).message }, 'metrics could not be collected');
      sendError(res, 500, 'internal', 'Metrics could not be collected.', requestId);
    }
  }
}
