import type { ProjectView, RegionView } from '../core/api/projects-schemas.ts';
import type { HealthView, InitView, SealStatusView } from '../core/api/sys-schemas.ts';
import { AuditApi } from './audit-api.ts';
import { ChangesApi } from './changes-api.ts';
import { DatabasesApi } from './databases-api.ts';
import { type CallOptions, type ClientOptions, HttpTransport, type RequestSpec } from './http-transport.ts';
import { AccessKeysApi } from './access-keys-api.ts';
import { IamApi } from './iam-api.ts';
import { KmsApi } from './kms-api.ts';
import { LeasesApi } from './leases-api.ts';
import { OperationsApi } from './operations-api.ts';
import { ProjectsApi, SysApi } from './projects-api.ts';
import type { PageResult } from './sdk-types.ts';
import { SecretsApi } from './secrets-api.ts';

/**
 * A typed client for Coffer's HTTP API, one property per service. Every call sends an
 * `X-Request-Id`, times out per attempt, and retries 429, 503 and (idempotent calls) network errors
 * with exponential backoff and full jitter, honouring `Retry-After`.
 *
 * ```ts
 * const coffer = new CofferClient({ address: 'http://127.0.0.1:8270', token: process.env.COFFER_TOKEN });
 * const { value } = await coffer.secrets.getSecretValue({ projectId, regionId: 'local', instanceId, secret: 'db' });
 * ```
 */
export class CofferClient {
  /** Secrets Manager: instances, secrets, values, versions, stages. */
  readonly secrets: SecretsApi;
  /** Dynamic PostgreSQL credentials: database connections, roles, issue, a database's leases. */
  readonly databases: DatabasesApi;
  /** Leases of issued credentials, by id: get, renew, revoke. */
  readonly leases: LeasesApi;
  /** KMS: key rings, keys, versions, crypto. */
  readonly kms: KmsApi;
  /** IAM: policies, service accounts, tokens, roles, users, login. */
  readonly iam: IamApi;
  /** AWS access keys of service accounts and users (docs/aws.md). */
  readonly accessKeys: AccessKeysApi;
  /** Audit events and verification. */
  readonly audit: AuditApi;
  /** The change feed: what changed in a project, as pages or a live stream (metadata only). */
  readonly changes: ChangesApi;
  /** Long-running operations. */
  readonly operations: OperationsApi;
  /** Projects and regions. */
  readonly projects: ProjectsApi;
  /** Health, seal, init. */
  readonly sys: SysApi;
  /** The server's base URL. */
  readonly address: string;
  readonly #http: HttpTransport;

  constructor(options: ClientOptions) {
    this.#http = new HttpTransport(options);
    this.address = this.#http.address;
    this.secrets = new SecretsApi(this.#http);
    this.databases = new DatabasesApi(this.#http);
    this.leases = new LeasesApi(this.#http);
    this.kms = new KmsApi(this.#http);
    this.iam = new IamApi(this.#http);
    this.accessKeys = new AccessKeysApi(this.#http);
    this.audit = new AuditApi(this.#http);
    this.changes = new ChangesApi(this.#http);
    this.operations = new OperationsApi(this.#http);
    this.projects = new ProjectsApi(this.#http);
    this.sys = new SysApi(this.#http);
  }

  /** Sends any request (a route this client does not wrap yet), with the same retries. */
  send<T>(spec: RequestSpec, options?: CallOptions): Promise<T> {
    return this.#http.send(spec, options);
  }

  /** Sends one request and decodes the JSON answer; throws CofferApiError on an error answer. */
  request<T>(method: RequestSpec['method'], path: string, body?: unknown, options?: CallOptions): Promise<T> {
    return this.#http.send({ method, path, ...(body !== undefined ? { body } : {}) }, options);
  }

  /** `GET /v2/health` (answers even when sealed). Same as `sys.health()`. */
  health(options?: CallOptions): Promise<HealthView> {
    return this.sys.health(options);
  }

  /** `GET /v2/sys/seal-status`. Same as `sys.sealStatus()`. */
  sealStatus(options?: CallOptions, nonce?: string): Promise<SealStatusView> {
    return this.sys.sealStatus(options, nonce);
  }

  /** `POST /v2/sys/init`. Same as `sys.init()`. */
  init(secretShares: number, secretThreshold: number, options?: CallOptions): Promise<InitView> {
    return this.sys.init(secretShares, secretThreshold, options);
  }

  /** `POST /v2/sys/unseal`. Same as `sys.unseal()`. */
  unseal(
    key: string | undefined,
    reset = false,
    options?: CallOptions,
    nonce?: string,
  ): Promise<SealStatusView> {
    return this.sys.unseal(key, reset, options, nonce);
  }

  /** `POST /v2/sys/seal`. Same as `sys.seal()`. */
  seal(options?: CallOptions): Promise<SealStatusView> {
    return this.sys.seal(options);
  }

  /** `POST /v2/projects`. Same as `projects.create()`. */
  createProject(
    body: { id?: string; displayName?: string; features?: { secrets?: boolean; kms?: boolean } },
    options?: CallOptions,
  ): Promise<ProjectView> {
    return this.projects.create(body, options);
  }

  /** `GET /v2/projects`. Same as `projects.list()`. */
  listProjects(pageSize?: number, pageToken?: string): Promise<PageResult<ProjectView>> {
    return this.projects.list({
      ...(pageSize !== undefined ? { pageSize } : {}),
      ...(pageToken !== undefined ? { pageToken } : {}),
    });
  }

  /** `GET /v2/projects/{id}`. Same as `projects.get()`. */
  getProject(id: string, options?: CallOptions): Promise<ProjectView> {
    return this.projects.get({ projectId: id }, options);
  }

  /** `GET /v2/regions`. Same as `projects.listRegions()`. */
  listRegions(options?: CallOptions): Promise<PageResult<RegionView>> {
    return this.projects.listRegions({}, options);
  }
}
