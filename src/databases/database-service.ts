import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { newUuid } from '../core/ids.ts';
import { clampPageSize, decodePageToken, type Page, toPage } from '../core/pagination.ts';
import type { IamRepo } from '../iam/iam-repo.ts';
import type { Principal } from '../iam/principal.ts';
import type { InstanceService } from '../secrets/instance-service.ts';
import { type Storage, WriteRejected, type WriteStatement } from '../storage/storage-types.ts';
import type { AdminSecrets } from './admin-secret.ts';
import type { ConnectionPools } from './connection-pools.ts';
import { databaseChange } from './database-changes.ts';
import {
  checkResourceId,
  checkStatements,
  databaseName,
  databaseRoleName,
  parseTtlSeconds,
} from './database-fns.ts';
import type { DatabaseRepo } from './database-repo.ts';
import type { DatabaseLocation, DbConnection, DbRole } from './database-types.ts';
import type { LeaseRepo } from './lease-repo.ts';

/** The TLS modes of a database connection. */
export type SslMode = 'disable' | 'require' | 'verify-full';

/** What a connection is created with. */
export interface ConnectionInput {
  readonly name: string;
  readonly host: string;
  readonly port?: number | undefined;
  readonly database: string;
  readonly adminSecret: string;
  readonly sslmode?: SslMode | undefined;
  readonly maxOpenConnections?: number | undefined;
}

/** What a connection update may change (the name never changes). */
export type ConnectionPatch = Partial<Omit<ConnectionInput, 'name'>>;

/** What a role is put with; TTLs as durations (`"1h"`, `"3600s"`). */
export interface RoleInput {
  readonly creationStatements: readonly string[];
  readonly revocationStatements?: readonly string[] | undefined;
  readonly defaultTtl: string | number;
  readonly maxTtl: string | number;
  readonly renewable?: boolean | undefined;
}

const newEtag = () => randomBytes(9).toString('base64url');
const hostPattern = /^[A-Za-z0-9.:_%[\]-]{1,255}$/;

/**
 * Database connections and their roles (issue 15 §2), the configuration of dynamic credentials:
 * validation, the admin-secret rule (whoever names an admin secret, points a connection elsewhere
 * or writes the SQL run as the admin must be able to read the admin secret), the
 * 409 while leases are unrevoked, policies and change-feed entries.
 */
export class DatabaseService {
  readonly #storage: Storage;
  readonly #repo: DatabaseRepo;
  readonly #leases: LeaseRepo;
  readonly #instances: InstanceService;
  readonly #iamRepo: IamRepo;
  readonly #admin: AdminSecrets;
  readonly #pools: ConnectionPools;
  readonly #clock: Clock;

  constructor(deps: {
    storage: Storage;
    repo: DatabaseRepo;
    leases: LeaseRepo;
    instances: InstanceService;
    iamRepo: IamRepo;
    admin: AdminSecrets;
    pools: ConnectionPools;
    clock: Clock;
  }) {
    this.#storage = deps.storage;
    this.#repo = deps.repo;
    this.#leases = deps.leases;
    this.#instances = deps.instances;
    this.#iamRepo = deps.iamRepo;
    this.#admin = deps.admin;
    this.#pools = deps.pools;
    this.#clock = deps.clock;
  }

  /** Creates a connection; `already_exists` when the name is taken in the instance. */
  async createConnection(
    location: DatabaseLocation,
    input: ConnectionInput,
    caller: Principal,
  ): Promise<DbConnection> {
    await this.#requireInstance(location);
    checkResourceId(input.name, 'name');
    const fields = checkConnectionFields({ ...input, port: input.port ?? 5432 });
    await this.#admin.requireAccess(caller, input.adminSecret, location, 'adminSecret');
    const now = this.#clock.nowMs();
    const connection: DbConnection = {
      ...location,
      uid: newUuid(),
      name: input.name,
      host: fields.host,
      port: fields.port,
      database: fields.database,
      adminSecret: input.adminSecret,
      sslmode: input.sslmode ?? null,
      maxOpenConnections: input.maxOpenConnections ?? 4,
      etag: newEtag(),
      createTimeMs: now,
      updateTimeMs: now,
    };
    await this.#write(
      [
        this.#repo.insertConnection(connection),
        databaseChange(
          this.#storage.db,
          'database.created',
          databaseName(location, input.name),
          location.projectId,
          now,
        ),
      ],
      `Database ${input.name}`,
    );
    return connection;
  }

  /** One connection; `not_found` when the instance or the connection does not exist. */
  async getConnection(location: DatabaseLocation, name: string): Promise<DbConnection> {
    await this.#requireInstance(location);
    const found = await this.#repo.findConnection(location, name);
    if (!found) throw errors.notFound(`Database ${name}`);
    return found;
  }

  /** A page of the instance's connections, by name. */
  async listConnections(
    location: DatabaseLocation,
    pageSize: number | undefined,
    pageToken: string | undefined,
  ): Promise<Page<DbConnection>> {
    await this.#requireInstance(location);
    const size = clampPageSize(pageSize);
    const rows = await this.#repo.listConnections(location, decodePageToken(pageToken), size + 1);
    return toPage(rows, size, (c) => c.name);
  }

  /** Updates a connection (check-and-set on `etag` when given); its pool is closed. */
  async updateConnection(
    location: DatabaseLocation,
    name: string,
    patch: ConnectionPatch,
    etag: string | undefined,
    caller: Principal,
  ): Promise<DbConnection> {
    const current = await this.getConnection(location, name);
    if (etag !== undefined && etag !== current.etag)
      throw errors.conflict('The etag does not match the database’s current etag.');
    const switches = patch.adminSecret !== undefined && patch.adminSecret !== current.adminSecret;
    const fields = checkConnectionFields({
      host: patch.host ?? current.host,
      port: patch.port ?? current.port,
      database: patch.database ?? current.database,
    });
    // Detaching the current admin secret is acting with it: only for those who may read it (else a
    // holder of another secret could swap it in, plant a host or role SQL, and wait for it to return).
    if (switches) await this.#admin.requirePermission(caller, current.adminSecret, location, 'adminSecret');
    // Where the admin credential goes (host, port, database, TLS) or which it is: only for those who
    // may read it — a host of one's own would receive the admin password (cleartext auth).
    const redirects =
      patch.adminSecret !== undefined ||
      fields.host !== current.host ||
      fields.port !== current.port ||
      fields.database !== current.database ||
      (patch.sslmode !== undefined && patch.sslmode !== current.sslmode);
    if (redirects)
      await this.#admin.requireAccess(
        caller,
        patch.adminSecret ?? current.adminSecret,
        location,
        'adminSecret',
      );
    // A new admin secret goes only where its PATCH says: a host set under the old one is not kept.
    if (switches && (patch.host === undefined || patch.port === undefined || patch.database === undefined))
      throw errors.invalid(
        'A PATCH that changes adminSecret must also give host, port and database (and sslmode, else the admin secret’s is used).',
      );
    const now = this.#clock.nowMs();
    const next: DbConnection = {
      ...current,
      ...fields,
      adminSecret: patch.adminSecret ?? current.adminSecret,
      // A new admin secret takes the TLS mode given with it (absent: the secret's own).
      sslmode: switches ? (patch.sslmode ?? null) : (patch.sslmode ?? current.sslmode),
      maxOpenConnections: patch.maxOpenConnections ?? current.maxOpenConnections,
      etag: newEtag(),
      updateTimeMs: now,
    };
    await this.#write(
      [
        this.#repo.updateConnection(next, current.etag),
        databaseChange(
          this.#storage.db,
          'database.updated',
          databaseName(location, name),
          location.projectId,
          now,
        ),
      ],
      `Database ${name}`,
    );
    await this.#pools.close(current.uid);
    return next;
  }

  /** Deletes a connection, its roles and their policies; `conflict` while a lease is unrevoked. */
  async deleteConnection(location: DatabaseLocation, name: string, etag: string | undefined): Promise<void> {
    const current = await this.getConnection(location, name);
    if (etag !== undefined && etag !== current.etag)
      throw errors.conflict('The etag does not match the database’s current etag.');
    if (await this.#leases.hasUnrevokedLeases(current.uid))
      throw errors.conflict(`Database ${name} has leases not yet revoked; revoke them first.`);
    const resource = databaseName(location, name);
    const roles = await this.#repo.roleNames(current.uid);
    await this.#writeDelete(
      [
        ...this.#repo.deleteConnection(current),
        databaseChange(
          this.#storage.db,
          'database.deleted',
          resource,
          location.projectId,
          this.#clock.nowMs(),
          true,
        ),
        this.#iamRepo.deletePolicy(resource),
        ...roles.map((role) => this.#iamRepo.deletePolicy(databaseRoleName(location, name, role))),
      ],
      `Database ${name}`,
    );
    await this.#pools.close(current.uid);
  }

  /** Creates or replaces a role of a connection. */
  async putRole(
    location: DatabaseLocation,
    database: string,
    name: string,
    input: RoleInput,
    etag: string | undefined,
    caller: Principal,
  ): Promise<{ role: DbRole; created: boolean }> {
    const connection = await this.getConnection(location, database);
    // A role's statements run as the admin user: writing them is acting with the admin credential.
    await this.#admin.requireAccess(caller, connection.adminSecret, location, 'adminSecret');
    checkResourceId(name, 'role');
    checkStatements(input.creationStatements, 'creationStatements');
    if (input.revocationStatements !== undefined)
      checkStatements(input.revocationStatements, 'revocationStatements');
    const defaultTtlSeconds = parseTtlSeconds(input.defaultTtl, 'defaultTtl');
    const maxTtlSeconds = parseTtlSeconds(input.maxTtl, 'maxTtl');
    if (defaultTtlSeconds > maxTtlSeconds) throw errors.invalid('defaultTtl must not exceed maxTtl.');
    const current = await this.#repo.findRole(connection.uid, name);
    if (etag !== undefined && etag !== current?.etag)
      throw errors.conflict('The etag does not match the role’s current etag.');
    const now = this.#clock.nowMs();
    const role: DbRole = {
      uid: current?.uid ?? newUuid(),
      connectionUid: connection.uid,
      name,
      creationStatements: [...input.creationStatements],
      revocationStatements: input.revocationStatements ? [...input.revocationStatements] : null,
      defaultTtlSeconds,
      maxTtlSeconds,
      renewable: input.renewable ?? true,
      adminSecret: connection.adminSecret,
      etag: newEtag(),
      createTimeMs: current?.createTimeMs ?? now,
      updateTimeMs: now,
    };
    const resource = databaseRoleName(location, database, name);
    await this.#write(
      [
        current ? this.#repo.updateRole(role, current.etag) : this.#repo.insertRole(role),
        databaseChange(this.#storage.db, 'database.role.put', resource, location.projectId, now),
      ],
      `Role ${name}`,
    );
    return { role, created: current === undefined };
  }

  /** One role of a connection. */
  async getRole(
    location: DatabaseLocation,
    database: string,
    name: string,
  ): Promise<{ connection: DbConnection; role: DbRole }> {
    const connection = await this.getConnection(location, database);
    const role = await this.#repo.findRole(connection.uid, name);
    if (!role) throw errors.notFound(`Role ${name} of database ${database}`);
    return { connection, role };
  }

  /** A page of a connection's roles, by name. */
  async listRoles(
    location: DatabaseLocation,
    database: string,
    pageSize: number | undefined,
    pageToken: string | undefined,
  ): Promise<Page<DbRole>> {
    const connection = await this.getConnection(location, database);
    const size = clampPageSize(pageSize);
    const rows = await this.#repo.listRoles(connection.uid, decodePageToken(pageToken), size + 1);
    return toPage(rows, size, (r) => r.name);
  }

  /** Deletes a role and its policy; `conflict` while one of its leases is unrevoked. */
  async deleteRole(
    location: DatabaseLocation,
    database: string,
    name: string,
    etag: string | undefined,
  ): Promise<void> {
    const { connection, role } = await this.getRole(location, database, name);
    if (etag !== undefined && etag !== role.etag)
      throw errors.conflict('The etag does not match the role’s current etag.');
    if (await this.#leases.hasUnrevokedLeases(connection.uid, role.uid))
      throw errors.conflict(`Role ${name} has leases not yet revoked; revoke them first.`);
    const resource = databaseRoleName(location, database, name);
    await this.#writeDelete(
      [
        ...this.#repo.deleteRole(role),
        databaseChange(
          this.#storage.db,
          'database.role.deleted',
          resource,
          location.projectId,
          this.#clock.nowMs(),
          true,
        ),
        this.#iamRepo.deletePolicy(resource),
      ],
      `Role ${name}`,
    );
  }

  async #requireInstance(location: DatabaseLocation): Promise<void> {
    await this.#instances.get(
      { projectId: location.projectId, regionId: location.regionId },
      location.instanceId,
    );
  }

  /**
   * A delete unit from `DatabaseRepo.deleteConnection`/`deleteRole` first: its statement 0 (the
   * lock, with the etag read) and 1 (the delete, only without unrevoked leases) expect one row.
   */
  async #writeDelete(statements: WriteStatement[], what: string): Promise<void> {
    try {
      await this.#storage.write(statements);
    } catch (err) {
      if (err instanceof WriteRejected && err.statementIndex === 1)
        throw errors.conflict(`${what} has leases not yet revoked; revoke them first.`);
      if (err instanceof WriteRejected)
        throw errors.conflict(`${what} was changed concurrently; read it again.`);
      throw err;
    }
  }

  async #write(statements: WriteStatement[], what: string): Promise<void> {
    try {
      await this.#storage.write(statements);
    } catch (err) {
      if (err instanceof WriteRejected && err.reason === 'unique') throw errors.alreadyExists(what);
      if (err instanceof WriteRejected)
        throw errors.conflict(`${what} was changed concurrently; read it again.`);
      throw err;
    }
  }
}

/** Checks the target fields of a connection. */
function checkConnectionFields(f: { host: string; port: number; database: string }) {
  if (!hostPattern.test(f.host)) throw errors.invalid('host must be a host name or an IP address.');
  if (!Number.isInteger(f.port) || f.port < 1 || f.port > 65535)
    throw errors.invalid('port must be 1 to 65535.');
  if (f.database.length < 1 || f.database.length > 63 || f.database.includes('\0'))
    throw new CofferError('invalid_argument', 'database must be 1 to 63 characters.');
  return { host: f.host, port: f.port, database: f.database };
}
