import type {
  CreateProjectBody,
  ProjectView,
  RegionView,
  UpdateProjectBody,
} from '../core/api/projects-schemas.ts';
import type { HealthView, InitView, SealStatusView } from '../core/api/sys-schemas.ts';
import { CofferApiError } from './sdk-errors.ts';
import type { CallOptions, HttpTransport } from './http-transport.ts';
import { type PageOptions, type PageResult, type ProjectRef, seg } from './sdk-types.ts';

/** Projects and regions (SPEC §3). */
export class ProjectsApi {
  readonly #http: HttpTransport;
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** `POST /v2/projects` (needs `projects.create` at the root). */
  create(body: CreateProjectBody = {}, options?: CallOptions): Promise<ProjectView> {
    return this.#http.send({ method: 'POST', path: '/v2/projects', body }, options);
  }

  /** `GET /v2/projects`: the projects the caller may read. */
  list(page: PageOptions = {}, options?: CallOptions): Promise<PageResult<ProjectView>> {
    return this.#http.send({ method: 'GET', path: '/v2/projects', query: { ...page } }, options);
  }

  /** `GET /v2/projects/{id}`. */
  get(ref: ProjectRef, options?: CallOptions): Promise<ProjectView> {
    return this.#http.send({ method: 'GET', path: `/v2/projects/${seg(ref.projectId)}` }, options);
  }

  /** `PATCH /v2/projects/{id}`: display name and feature gates. */
  update(ref: ProjectRef, body: UpdateProjectBody, options?: CallOptions): Promise<ProjectView> {
    return this.#http.send({ method: 'PATCH', path: `/v2/projects/${seg(ref.projectId)}`, body }, options);
  }

  /** `GET /v2/regions`: the regions this server offers. */
  listRegions(page: PageOptions = {}, options?: CallOptions): Promise<PageResult<RegionView>> {
    return this.#http.send({ method: 'GET', path: '/v2/regions', query: { ...page } }, options);
  }
}

/** Health, seal and initialization (SPEC §2, §4). */
export class SysApi {
  readonly #http: HttpTransport;
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** `GET /v2/health` (answers `sealed` when the node is sealed, instead of throwing). */
  async health(options?: CallOptions): Promise<HealthView> {
    try {
      return await this.#http.send<HealthView>(
        { method: 'GET', path: '/v2/health' },
        {
          maxAttempts: 1,
          ...options,
        },
      );
    } catch (err) {
      if (err instanceof CofferApiError && err.status === 503)
        return { status: 'sealed', version: '', storage: { engine: '', status: 'ok' } };
      throw err;
    }
  }

  /** `GET /v2/sys/seal-status`; with `nonce`, that unseal attempt's progress. */
  sealStatus(options?: CallOptions, nonce?: string): Promise<SealStatusView> {
    return this.#http.send(
      { method: 'GET', path: '/v2/sys/seal-status', ...(nonce ? { query: { nonce } } : {}) },
      options,
    );
  }

  /** `POST /v2/sys/init`: a Shamir-sealed node's shares and first admin token, once. */
  init(secretShares: number, secretThreshold: number, options?: CallOptions): Promise<InitView> {
    return this.#http.send(
      { method: 'POST', path: '/v2/sys/init', body: { secretShares, secretThreshold } },
      { maxAttempts: 1, ...options },
    );
  }

  /**
   * `POST /v2/sys/unseal` with one share (or a reset). The first share starts an attempt whose
   * `nonce` the answer carries; give it with every later share (and to reset that attempt).
   */
  unseal(
    key: string | undefined,
    reset = false,
    options?: CallOptions,
    nonce?: string,
  ): Promise<SealStatusView> {
    return this.#http.send(
      {
        method: 'POST',
        path: '/v2/sys/unseal',
        body: {
          ...(key !== undefined ? { key } : {}),
          ...(reset ? { reset } : {}),
          ...(nonce ? { nonce } : {}),
        },
      },
      { maxAttempts: 1, ...options },
    );
  }

  /** `POST /v2/sys/seal`. */
  seal(options?: CallOptions): Promise<SealStatusView> {
    return this.#http.send({ method: 'POST', path: '/v2/sys/seal' }, options);
  }

  /**
   * `POST /v2/sys/backup` (needs `sys.backup` at the root): the backup file as it streams (see
   * docs/backup.md). One attempt, no timeout but `signal`; an error answer throws CofferApiError.
   * A body that ends early (the node died, the backup failed) makes reading the stream throw.
   */
  async backup(signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const { response, requestId } = await this.#http.openStream(
      { method: 'POST', path: '/v2/sys/backup', headers: { accept: 'application/octet-stream' } },
      signal,
    );
    if (!response.ok || response.body === null)
      throw this.#http.errorOf(response, await response.text(), requestId);
    return response.body;
  }

  /** `GET /v2/openapi.json`. */
  openApi(options?: CallOptions): Promise<Record<string, unknown>> {
    return this.#http.send({ method: 'GET', path: '/v2/openapi.json' }, options);
  }
}
