import type { Kysely, Selectable } from 'kysely';
import type { Database, DbConnectionsTable, DbRolesTable } from '../storage/schema.ts';
import { stmt, type WriteStatement } from '../storage/storage-types.ts';
import type { DatabaseLocation, DbConnection, DbRole } from './database-types.ts';
import { UNREVOKED_STATES } from './lease-repo.ts';

function toConnection(row: Selectable<DbConnectionsTable>): DbConnection {
  return {
    uid: row.uid,
    projectId: row.project_id,
    regionId: row.region_id,
    instanceId: row.instance_id,
    name: row.name,
    host: row.host,
    port: Number(row.port),
    database: row.database,
    adminSecret: row.admin_secret,
    sslmode: row.sslmode,
    maxOpenConnections: Number(row.max_open_connections),
    etag: row.etag,
    createTimeMs: Number(row.create_time),
    updateTimeMs: Number(row.update_time),
  };
}

function toRole(row: Selectable<DbRolesTable>): DbRole {
  return {
    uid: row.uid,
    connectionUid: row.connection_uid,
    name: row.name,
    creationStatements: JSON.parse(row.creation_statements) as string[],
    revocationStatements:
      row.revocation_statements === null ? null : (JSON.parse(row.revocation_statements) as string[]),
    defaultTtlSeconds: Number(row.default_ttl_seconds),
    maxTtlSeconds: Number(row.max_ttl_seconds),
    renewable: Number(row.renewable) === 1,
    adminSecret: row.admin_secret,
    etag: row.etag,
    createTimeMs: Number(row.create_time),
    updateTimeMs: Number(row.update_time),
  };
}

/** Named queries of database connections (db_connections) and their roles (db_roles). */
export class DatabaseRepo {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** One connection of an instance, by name. */
  async findConnection(location: DatabaseLocation, name: string): Promise<DbConnection | undefined> {
    const row = await this.#db
      .selectFrom('db_connections')
      .selectAll()
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .where('instance_id', '=', location.instanceId)
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? toConnection(row) : undefined;
  }

  /** One connection by uid. */
  async findConnectionByUid(uid: string): Promise<DbConnection | undefined> {
    const row = await this.#db
      .selectFrom('db_connections')
      .selectAll()
      .where('uid', '=', uid)
      .executeTakeFirst();
    return row ? toConnection(row) : undefined;
  }

  /** Connections of an instance after `after`, by name. */
  async listConnections(
    location: DatabaseLocation,
    after: string | undefined,
    limit: number,
  ): Promise<DbConnection[]> {
    let q = this.#db
      .selectFrom('db_connections')
      .selectAll()
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .where('instance_id', '=', location.instanceId)
      .orderBy('name')
      .limit(limit);
    if (after !== undefined) q = q.where('name', '>', after);
    return (await q.execute()).map(toConnection);
  }

  /** Inserts a connection. */
  insertConnection(c: DbConnection): WriteStatement {
    return stmt(
      this.#db.insertInto('db_connections').values({
        uid: c.uid,
        project_id: c.projectId,
        region_id: c.regionId,
        instance_id: c.instanceId,
        name: c.name,
        host: c.host,
        port: c.port,
        database: c.database,
        admin_secret: c.adminSecret,
        sslmode: c.sslmode,
        max_open_connections: c.maxOpenConnections,
        etag: c.etag,
        create_time: c.createTimeMs,
        update_time: c.updateTimeMs,
      }),
    );
  }

  /** Updates a connection if its etag is still `expectedEtag`. */
  updateConnection(c: DbConnection, expectedEtag: string): WriteStatement {
    return stmt(
      this.#db
        .updateTable('db_connections')
        .set({
          host: c.host,
          port: c.port,
          database: c.database,
          admin_secret: c.adminSecret,
          sslmode: c.sslmode,
          max_open_connections: c.maxOpenConnections,
          etag: c.etag,
          update_time: c.updateTimeMs,
        })
        .where('uid', '=', c.uid)
        .where('etag', '=', expectedEtag),
      'one',
    );
  }

  /**
   * Locks a connection's row for the rest of the write (PostgreSQL: a row lock; SQLite writes one at
   * a time) if it still exists (and has `etag`, when given); expects one row. Issue and delete both
   * take it first, so a later statement of the unit sees the other's committed work.
   */
  lockConnection(uid: string, etag?: string): WriteStatement {
    let q = this.#db
      .updateTable('db_connections')
      .set((eb) => ({ etag: eb.ref('etag') }))
      .where('uid', '=', uid);
    if (etag !== undefined) q = q.where('etag', '=', etag);
    return stmt(q, 'one');
  }

  /** Locks a role's row as `lockConnection` does (it must still belong to `connectionUid`). */
  lockRole(uid: string, connectionUid: string, etag?: string): WriteStatement {
    let q = this.#db
      .updateTable('db_roles')
      .set((eb) => ({ etag: eb.ref('etag') }))
      .where('uid', '=', uid)
      .where('connection_uid', '=', connectionUid);
    if (etag !== undefined) q = q.where('etag', '=', etag);
    return stmt(q, 'one');
  }

  /**
   * Deletes a connection and its roles: [lock (etag), delete if no lease is unrevoked, roles].
   * The check and the delete are one statement, after the lock, so an issue in flight either
   * wrote its lease first (the delete is rejected) or finds the connection gone.
   */
  deleteConnection(c: DbConnection): WriteStatement[] {
    return [
      this.lockConnection(c.uid, c.etag),
      this.#deleteUnlessLeased('db_connections', 'connection_uid', c.uid),
      stmt(this.#db.deleteFrom('db_roles').where('connection_uid', '=', c.uid)),
    ];
  }

  /** One role of a connection, by name. */
  async findRole(connectionUid: string, name: string): Promise<DbRole | undefined> {
    const row = await this.#db
      .selectFrom('db_roles')
      .selectAll()
      .where('connection_uid', '=', connectionUid)
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? toRole(row) : undefined;
  }

  /** One role by uid. */
  async findRoleByUid(uid: string): Promise<DbRole | undefined> {
    const row = await this.#db.selectFrom('db_roles').selectAll().where('uid', '=', uid).executeTakeFirst();
    return row ? toRole(row) : undefined;
  }

  /** Roles of a connection after `after`, by name. */
  async listRoles(connectionUid: string, after: string | undefined, limit: number): Promise<DbRole[]> {
    let q = this.#db
      .selectFrom('db_roles')
      .selectAll()
      .where('connection_uid', '=', connectionUid)
      .orderBy('name')
      .limit(limit);
    if (after !== undefined) q = q.where('name', '>', after);
    return (await q.execute()).map(toRole);
  }

  /** Names of a connection's roles (for policies deleted with the connection). */
  async roleNames(connectionUid: string): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('db_roles')
      .select('name')
      .where('connection_uid', '=', connectionUid)
      .execute();
    return rows.map((r) => r.name);
  }

  /** Inserts a role. */
  insertRole(r: DbRole): WriteStatement {
    return stmt(
      this.#db
        .insertInto('db_roles')
        .values({ uid: r.uid, connection_uid: r.connectionUid, name: r.name, ...roleColumns(r) }),
    );
  }

  /** Replaces a role's settings if its etag is still `expectedEtag`. */
  updateRole(r: DbRole, expectedEtag: string): WriteStatement {
    return stmt(
      this.#db
        .updateTable('db_roles')
        .set(roleColumns(r))
        .where('uid', '=', r.uid)
        .where('etag', '=', expectedEtag),
      'one',
    );
  }

  /** Deletes a role: [lock (etag), delete if none of its leases is unrevoked] (as deleteConnection). */
  deleteRole(r: DbRole): WriteStatement[] {
    return [
      this.lockRole(r.uid, r.connectionUid, r.etag),
      this.#deleteUnlessLeased('db_roles', 'role_uid', r.uid),
    ];
  }

  /**
   * Deletes row `uid` of `table` unless one of its leases (`db_leases.<leaseColumn>` = `uid`) is
   * unrevoked: the check and the delete are one statement (expects one row).
   */
  #deleteUnlessLeased(
    table: 'db_connections' | 'db_roles',
    leaseColumn: 'connection_uid' | 'role_uid',
    uid: string,
  ): WriteStatement {
    return stmt(
      this.#db
        .deleteFrom(table)
        .where('uid', '=', uid)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('db_leases')
                .select('id')
                .where(leaseColumn, '=', uid)
                .where('state', 'in', UNREVOKED_STATES),
            ),
          ),
        ),
      'one',
    );
  }
}

function roleColumns(r: DbRole) {
  return {
    creation_statements: JSON.stringify(r.creationStatements),
    revocation_statements: r.revocationStatements === null ? null : JSON.stringify(r.revocationStatements),
    default_ttl_seconds: r.defaultTtlSeconds,
    max_ttl_seconds: r.maxTtlSeconds,
    renewable: r.renewable ? 1 : 0,
    admin_secret: r.adminSecret,
    etag: r.etag,
    create_time: r.createTimeMs,
    update_time: r.updateTimeMs,
  };
}
