import type {
  CreateDatabaseBody,
  DatabaseRoleView,
  DatabaseView,
  DurationValue,
  IssuedCredentialView,
  LeaseView,
  PatchDatabaseBody,
  PutDatabaseRoleBody,
  RevokedCountView,
} from './database-types.ts';
import type { CallOptions, HttpTransport } from './http-transport.ts';
import {
  type DatabaseRef,
  type DatabaseRoleRef,
  databasePath,
  databaseRolePath,
  type InstanceRef,
  instancePath,
  type PageOptions,
  type PageResult,
} from './sdk-types.ts';

/** Filters of a database's lease list. */
export interface LeaseListQuery extends PageOptions {
  readonly role?: string;
  readonly state?: LeaseView['state'];
}

/**
 * Dynamic PostgreSQL credentials: database connections and their roles, `issue`, and the admin
 * views of a database's leases (a lease by id is `client.leases`).
 */
export class DatabasesApi {
  readonly #http: HttpTransport;
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** `POST …/databases`. */
  createDatabase(
    instance: InstanceRef,
    body: CreateDatabaseBody,
    options?: CallOptions,
  ): Promise<DatabaseView> {
    return this.#http.send({ method: 'POST', path: `${instancePath(instance)}/databases`, body }, options);
  }

  /** `GET …/databases`. */
  listDatabases(
    instance: InstanceRef,
    page: PageOptions = {},
    options?: CallOptions,
  ): Promise<PageResult<DatabaseView>> {
    return this.#http.send(
      { method: 'GET', path: `${instancePath(instance)}/databases`, query: { ...page } },
      options,
    );
  }

  /** `GET …/databases/{db}`. */
  getDatabase(ref: DatabaseRef, options?: CallOptions): Promise<DatabaseView> {
    return this.#http.send({ method: 'GET', path: databasePath(ref) }, options);
  }

  /** `PATCH …/databases/{db}`. */
  patchDatabase(ref: DatabaseRef, body: PatchDatabaseBody, options?: CallOptions): Promise<DatabaseView> {
    return this.#http.send({ method: 'PATCH', path: databasePath(ref), body }, options);
  }

  /** `DELETE …/databases/{db}` (refused while unrevoked leases exist). */
  async deleteDatabase(ref: DatabaseRef, options?: CallOptions): Promise<void> {
    await this.#http.send({ method: 'DELETE', path: databasePath(ref) }, options);
  }

  /** `PUT …/roles/{role}`: creates or replaces a role. */
  putRole(ref: DatabaseRoleRef, body: PutDatabaseRoleBody, options?: CallOptions): Promise<DatabaseRoleView> {
    return this.#http.send({ method: 'PUT', path: databaseRolePath(ref), body, idempotent: true }, options);
  }

  /** `GET …/roles`. */
  listRoles(
    ref: DatabaseRef,
    page: PageOptions = {},
    options?: CallOptions,
  ): Promise<PageResult<DatabaseRoleView>> {
    return this.#http.send(
      { method: 'GET', path: `${databasePath(ref)}/roles`, query: { ...page } },
      options,
    );
  }

  /** `GET …/roles/{role}`. */
  getRole(ref: DatabaseRoleRef, options?: CallOptions): Promise<DatabaseRoleView> {
    return this.#http.send({ method: 'GET', path: databaseRolePath(ref) }, options);
  }

  /** `DELETE …/roles/{role}` (refused while unrevoked leases exist). */
  async deleteRole(ref: DatabaseRoleRef, options?: CallOptions): Promise<void> {
    await this.#http.send({ method: 'DELETE', path: databaseRolePath(ref) }, options);
  }

  /**
   * `POST …/roles/{role}/issue`: a new PostgreSQL login and its lease. The password is in this
   * answer only (the server never stores it); keep it out of logs.
   */
  issue(
    ref: DatabaseRoleRef,
    body: { readonly ttl?: DurationValue } = {},
    options?: CallOptions,
  ): Promise<IssuedCredentialView> {
    return this.#http.send({ method: 'POST', path: `${databaseRolePath(ref)}/issue`, body }, options);
  }

  /** `GET …/databases/{db}/leases?role=&state=` (admin: `secrets.leases.list`). */
  listLeases(
    ref: DatabaseRef,
    query: LeaseListQuery = {},
    options?: CallOptions,
  ): Promise<PageResult<LeaseView>> {
    return this.#http.send(
      { method: 'GET', path: `${databasePath(ref)}/leases`, query: { ...query } },
      options,
    );
  }

  /** `POST …/databases/{db}/leases/revoke-prefix`: revokes every lease of the database (or of one role). */
  revokePrefix(
    ref: DatabaseRef,
    body: { readonly role?: string } = {},
    options?: CallOptions,
  ): Promise<RevokedCountView> {
    return this.#http.send(
      { method: 'POST', path: `${databasePath(ref)}/leases/revoke-prefix`, body, idempotent: true },
      options,
    );
  }
}
