import type {
  CreateRoleBody,
  CreateServiceAccountBody,
  CreateUserBody,
  Condition,
  LoginBody,
  PolicyView,
  RoleView,
  ServiceAccountView,
  SetPolicyBody,
  UserStateView,
} from '../core/api/iam-schemas.ts';
import type { UserView } from '../core/api/route-answer-schemas.ts';
import type {
  CreateServiceAccountKeyBody,
  ServiceAccountKeyFile,
  ServiceAccountKeyView,
} from '../core/api/service-account-key-schemas.ts';
import type { CallOptions, HttpTransport } from './http-transport.ts';
import {
  type IssuedTokenView,
  type LoginView,
  type PageOptions,
  type PageResult,
  type PermissionView,
  type PolicyResource,
  type ProjectRef,
  policyResourcePath,
  type ServiceAccountRef,
  serviceAccountPath,
  seg,
  type TestPermissionsView,
  type TokenInfoView,
} from './sdk-types.ts';

/** IAM: policies on every resource kind, service accounts and tokens, roles, users and logins (SPEC §7). */
export class IamApi {
  readonly #http: HttpTransport;
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** `GET …/iam-policy`. */
  getPolicy(resource: PolicyResource, options?: CallOptions): Promise<PolicyView> {
    return this.#http.send({ method: 'GET', path: `${policyResourcePath(resource)}/iam-policy` }, options);
  }

  /** `PUT …/iam-policy` (a stale `etag` is 409 conflict). */
  setPolicy(resource: PolicyResource, body: SetPolicyBody, options?: CallOptions): Promise<PolicyView> {
    return this.#http.send(
      { method: 'PUT', path: `${policyResourcePath(resource)}/iam-policy`, body },
      options,
    );
  }

  /** `POST …/iam-policy:add-binding`: grants `role` to `member` (`serviceAccount:…`, `user:…`). */
  addBinding(
    resource: PolicyResource,
    binding: { readonly role: string; readonly member: string; readonly condition?: Condition },
    options?: CallOptions,
  ): Promise<PolicyView> {
    return this.#http.send(
      {
        method: 'POST',
        path: `${policyResourcePath(resource)}/iam-policy:add-binding`,
        body: binding,
        idempotent: true,
      },
      options,
    );
  }

  /** `POST …/iam-policy:remove-binding`. */
  removeBinding(
    resource: PolicyResource,
    binding: { readonly role: string; readonly member: string },
    options?: CallOptions,
  ): Promise<PolicyView> {
    return this.#http.send(
      {
        method: 'POST',
        path: `${policyResourcePath(resource)}/iam-policy:remove-binding`,
        body: binding,
        idempotent: true,
      },
      options,
    );
  }

  /** `POST …/iam:test-permissions`: which of `permissions` the caller holds on the resource. */
  testPermissions(
    resource: PolicyResource,
    permissions: readonly string[],
    options?: CallOptions,
  ): Promise<TestPermissionsView> {
    return this.#http.send(
      {
        method: 'POST',
        path: `${policyResourcePath(resource)}/iam:test-permissions`,
        body: { permissions },
        idempotent: true,
      },
      options,
    );
  }

  /** `GET /v2/permissions`: the permission catalogue. */
  listPermissions(options?: CallOptions): Promise<PageResult<PermissionView>> {
    return this.#http.send({ method: 'GET', path: '/v2/permissions' }, options);
  }

  /** `GET /v2/roles`: the predefined roles. */
  listRoles(options?: CallOptions): Promise<PageResult<RoleView>> {
    return this.#http.send({ method: 'GET', path: '/v2/roles' }, options);
  }

  /** `POST /v2/projects/{p}/roles`: a custom role. */
  createRole(project: ProjectRef, body: CreateRoleBody, options?: CallOptions): Promise<RoleView> {
    return this.#http.send(
      { method: 'POST', path: `/v2/projects/${seg(project.projectId)}/roles`, body },
      options,
    );
  }

  /** `GET /v2/projects/{p}/roles`: the project's custom roles. */
  listProjectRoles(project: ProjectRef, options?: CallOptions): Promise<PageResult<RoleView>> {
    return this.#http.send({ method: 'GET', path: `/v2/projects/${seg(project.projectId)}/roles` }, options);
  }

  /**
   * `POST /v2/auth/logout`: revokes this client's own token (a login session or a service account
   * token) at once; later calls with it are `unauthenticated`. The first admin's root token is refused
   * (`failed_precondition`): rotate it instead.
   */
  async logout(options?: CallOptions): Promise<void> {
    await this.#http.send({ method: 'POST', path: '/v2/auth/logout', body: {} }, options);
  }

  /** `POST /v2/users`. */
  createUser(body: CreateUserBody, options?: CallOptions): Promise<UserView> {
    return this.#http.send({ method: 'POST', path: '/v2/users', body }, options);
  }

  /** `POST /v2/users/{user}:disable|:enable`: disabling refuses logins and ends every session at once. */
  setUserDisabled(email: string, disabled: boolean, options?: CallOptions): Promise<UserStateView> {
    return this.#http.send(
      {
        method: 'POST',
        path: `/v2/users/${seg(email)}:${disabled ? 'disable' : 'enable'}`,
        idempotent: true,
      },
      options,
    );
  }

  /** `GET /v2/users/{user}/tokens`: the user's live sessions (never the tokens themselves). */
  listUserTokens(email: string, options?: CallOptions): Promise<PageResult<TokenInfoView>> {
    return this.#http.send({ method: 'GET', path: `/v2/users/${seg(email)}/tokens` }, options);
  }

  /** `DELETE /v2/users/{user}/tokens/{id}`: ends one session at once. */
  async revokeUserToken(email: string, tokenId: string, options?: CallOptions): Promise<void> {
    await this.#http.send(
      { method: 'DELETE', path: `/v2/users/${seg(email)}/tokens/${seg(tokenId)}` },
      options,
    );
  }

  /** `POST /v2/sys/root-token:rotate`: a new root token, shown once; the old one stops working. */
  rotateRootToken(options?: CallOptions): Promise<IssuedTokenView> {
    return this.#http.send({ method: 'POST', path: '/v2/sys/root-token:rotate', body: {} }, options);
  }

  /** `POST /v2/auth/login`: email and password for a session token. */
  login(body: LoginBody, options?: CallOptions): Promise<LoginView> {
    return this.#http.send({ method: 'POST', path: '/v2/auth/login', body }, options);
  }

  /** `POST /v2/projects/{p}/service-accounts`. */
  createServiceAccount(
    project: ProjectRef,
    body: CreateServiceAccountBody,
    options?: CallOptions,
  ): Promise<ServiceAccountView> {
    return this.#http.send(
      { method: 'POST', path: `/v2/projects/${seg(project.projectId)}/service-accounts`, body },
      options,
    );
  }

  /** `GET /v2/projects/{p}/service-accounts`. */
  listServiceAccounts(
    project: ProjectRef,
    page: PageOptions = {},
    options?: CallOptions,
  ): Promise<PageResult<ServiceAccountView>> {
    return this.#http.send(
      { method: 'GET', path: `/v2/projects/${seg(project.projectId)}/service-accounts`, query: { ...page } },
      options,
    );
  }

  /** `GET …/service-accounts/{email}`. */
  getServiceAccount(ref: ServiceAccountRef, options?: CallOptions): Promise<ServiceAccountView> {
    return this.#http.send({ method: 'GET', path: serviceAccountPath(ref) }, options);
  }

  /** `POST …/service-accounts/{email}/disable|enable`. */
  setServiceAccountDisabled(
    ref: ServiceAccountRef,
    disabled: boolean,
    options?: CallOptions,
  ): Promise<ServiceAccountView> {
    return this.#http.send(
      {
        method: 'POST',
        path: `${serviceAccountPath(ref)}/${disabled ? 'disable' : 'enable'}`,
        idempotent: true,
      },
      options,
    );
  }

  /** `POST …/tokens`: an API token, shown once (`ttl` as `"3600s"` or seconds). */
  createToken(
    ref: ServiceAccountRef,
    body: { readonly ttl?: string | number } = {},
    options?: CallOptions,
  ): Promise<IssuedTokenView> {
    return this.#http.send({ method: 'POST', path: `${serviceAccountPath(ref)}/tokens`, body }, options);
  }

  /** `GET …/tokens` (never the tokens themselves). */
  listTokens(ref: ServiceAccountRef, options?: CallOptions): Promise<PageResult<TokenInfoView>> {
    return this.#http.send({ method: 'GET', path: `${serviceAccountPath(ref)}/tokens` }, options);
  }

  /** `DELETE …/tokens/{id}`. */
  async revokeToken(ref: ServiceAccountRef, tokenId: string, options?: CallOptions): Promise<void> {
    await this.#http.send(
      { method: 'DELETE', path: `${serviceAccountPath(ref)}/tokens/${seg(tokenId)}` },
      options,
    );
  }

  /**
   * `POST …/keys`: a key pair; answers the JSON key file with the private key, once (store it at
   * mode 0600; Coffer keeps only the public key). Needs act_as on the account too.
   */
  createKey(
    ref: ServiceAccountRef,
    body: CreateServiceAccountKeyBody = {},
    options?: CallOptions,
  ): Promise<ServiceAccountKeyFile> {
    return this.#http.send({ method: 'POST', path: `${serviceAccountPath(ref)}/keys`, body }, options);
  }

  /** `GET …/keys`: the account's keys (metadata, never a private key). */
  listKeys(
    ref: ServiceAccountRef,
    page: PageOptions = {},
    options?: CallOptions,
  ): Promise<PageResult<ServiceAccountKeyView>> {
    return this.#http.send(
      { method: 'GET', path: `${serviceAccountPath(ref)}/keys`, query: { ...page } },
      options,
    );
  }

  /** `GET …/keys/{keyId}` (with its public key). */
  getKey(ref: ServiceAccountRef, keyId: string, options?: CallOptions): Promise<ServiceAccountKeyView> {
    return this.#http.send({ method: 'GET', path: `${serviceAccountPath(ref)}/keys/${seg(keyId)}` }, options);
  }

  /** `POST …/keys/{keyId}/disable|enable`: disabling stops its exchanges and revokes its tokens at once. */
  setKeyDisabled(
    ref: ServiceAccountRef,
    keyId: string,
    disabled: boolean,
    options?: CallOptions,
  ): Promise<ServiceAccountKeyView> {
    return this.#http.send(
      {
        method: 'POST',
        path: `${serviceAccountPath(ref)}/keys/${seg(keyId)}/${disabled ? 'disable' : 'enable'}`,
        idempotent: true,
      },
      options,
    );
  }

  /** `DELETE …/keys/{keyId}`: its exchanges stop and its tokens are revoked at once. */
  async deleteKey(ref: ServiceAccountRef, keyId: string, options?: CallOptions): Promise<void> {
    await this.#http.send(
      { method: 'DELETE', path: `${serviceAccountPath(ref)}/keys/${seg(keyId)}` },
      options,
    );
  }
}
