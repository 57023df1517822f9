import type { ProjectView, RegionView } from '../core/api/projects-schemas.ts';
import type { HealthView, InitView, SealStatusView } from '../core/api/sys-schemas.ts';

/** An error answer from a Coffer server, with its stable code. */
export class CofferApiError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** Stable snake_case error code (`permission_denied`, `sealed`…). */
  readonly code: string;
  /** The request id the server logged and audited. */
  readonly requestId: string | undefined;
  constructor(status: number, code: string, message: string, requestId: string | undefined) {
    super(message);
    this.name = 'CofferApiError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

/** How to reach a server. */
export interface ClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:8270`. */
  readonly address: string;
  /** Bearer token, for authenticated routes. */
  readonly token?: string | undefined;
  /** Per-request timeout in ms (default 30 s). */
  readonly timeoutMs?: number;
}

/** A list page. */
export interface PageResult<T> {
  items: T[];
  nextPageToken?: string;
}

/**
 * A typed client for Coffer's HTTP API. This first cut covers sys, projects and regions; the SDK
 * issue extends it to every route, with retries and a caching reader.
 */
export class CofferClient {
  readonly #address: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: ClientOptions) {
    this.#address = options.address.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Sends one request and decodes the JSON answer; throws CofferApiError on an error answer. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.#address}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new CofferApiError(
        response.status,
        'invalid_response',
        `The server answered ${response.status} with a body that is not JSON.`,
        undefined,
      );
    }
    if (!response.ok) {
      const error = (
        parsed as { error?: { code?: string; message?: string; requestId?: string } } | undefined
      )?.error;
      throw new CofferApiError(
        response.status,
        error?.code ?? 'unknown',
        error?.message ?? `HTTP ${response.status}`,
        error?.requestId ?? response.headers.get('x-request-id') ?? undefined,
      );
    }
    return parsed as T;
  }

  /** `GET /v2/health` (answers even when sealed). */
  async health(): Promise<HealthView> {
    try {
      return await this.request<HealthView>('GET', '/v2/health');
    } catch (err) {
      if (err instanceof CofferApiError && err.status === 503)
        return { status: 'sealed', version: '', storage: { engine: '', status: 'ok' } };
      throw err;
    }
  }

  /** `GET /v2/sys/seal-status`. */
  sealStatus(): Promise<SealStatusView> {
    return this.request('GET', '/v2/sys/seal-status');
  }

  /** `POST /v2/sys/init`. */
  init(secretShares: number, secretThreshold: number): Promise<InitView> {
    return this.request('POST', '/v2/sys/init', { secretShares, secretThreshold });
  }

  /** `POST /v2/sys/unseal` with one share (or a reset). */
  unseal(key: string | undefined, reset = false): Promise<SealStatusView> {
    return this.request('POST', '/v2/sys/unseal', {
      ...(key !== undefined ? { key } : {}),
      ...(reset ? { reset } : {}),
    });
  }

  /** `POST /v2/sys/seal`. */
  seal(): Promise<SealStatusView> {
    return this.request('POST', '/v2/sys/seal');
  }

  /** `POST /v2/projects`. */
  createProject(body: {
    id?: string;
    displayName?: string;
    features?: { secrets?: boolean; kms?: boolean };
  }): Promise<ProjectView> {
    return this.request('POST', '/v2/projects', body);
  }

  /** `GET /v2/projects`. */
  listProjects(pageSize?: number, pageToken?: string): Promise<PageResult<ProjectView>> {
    const query = new URLSearchParams();
    if (pageSize !== undefined) query.set('pageSize', String(pageSize));
    if (pageToken !== undefined) query.set('pageToken', pageToken);
    const suffix = query.size > 0 ? `?${query}` : '';
    return this.request('GET', `/v2/projects${suffix}`);
  }

  /** `GET /v2/projects/{id}`. */
  getProject(id: string): Promise<ProjectView> {
    return this.request('GET', `/v2/projects/${encodeURIComponent(id)}`);
  }

  /** `GET /v2/regions`. */
  listRegions(): Promise<PageResult<RegionView>> {
    return this.request('GET', '/v2/regions');
  }
}
