import type { Kysely, Selectable } from 'kysely';
import type { Database, IamRolesTable, IamServiceAccountsTable } from '../storage/schema.ts';
import { stmt, type WriteStatement } from '../storage/storage-types.ts';
import { type ChangeRecord, changeStatement } from '../storage/change-log.ts';
import type { Permission } from './permissions.ts';

/** A binding's condition: a title, and an instant after which the binding no longer applies. */
export interface BindingCondition {
  readonly title: string;
  readonly expiresAtMs?: number;
}

/** One binding: a role granted to members, optionally time-bound. */
export interface Binding {
  readonly role: string;
  readonly members: readonly string[];
  readonly condition?: BindingCondition;
}

/** A stored policy. */
export interface StoredPolicy {
  readonly resource: string;
  readonly bindings: readonly Binding[];
  readonly etag: string;
  readonly updateTimeMs: number;
}

/** A custom role. */
export interface CustomRole {
  readonly name: string;
  readonly projectId: string;
  readonly title: string;
  readonly permissions: readonly Permission[];
  readonly createTimeMs: number;
}

/** A service account. */
export interface ServiceAccount {
  readonly email: string;
  readonly projectId: string;
  readonly name: string;
  readonly displayName: string;
  readonly disabled: boolean;
  readonly createTimeMs: number;
}

function toServiceAccount(row: Selectable<IamServiceAccountsTable>): ServiceAccount {
  return {
    email: row.email,
    projectId: row.project_id,
    name: row.name,
    displayName: row.display_name,
    disabled: row.disabled === 1,
    createTimeMs: Number(row.create_time),
  };
}

function toRole(row: Selectable<IamRolesTable>): CustomRole {
  return {
    name: row.name,
    projectId: row.project_id,
    title: row.title,
    permissions: JSON.parse(row.permissions) as Permission[],
    createTimeMs: Number(row.create_time),
  };
}

/** Named queries of the IAM tables. */
export class IamRepo {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** The policy of one resource, or undefined (no policy = no bindings). */
  async findPolicy(resource: string): Promise<StoredPolicy | undefined> {
    // No stored name holds a NUL (PostgreSQL refuses one in text): such a URL has no policy, and the
    // caller is refused (403) as on SQLite rather than by the database (400).
    if (resource.includes('\u0000')) return undefined;
    const row = await this.#db
      .selectFrom('iam_policies')
      .selectAll()
      .where('resource', '=', resource)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      resource: row.resource,
      bindings: JSON.parse(row.bindings) as Binding[],
      etag: row.etag,
      updateTimeMs: Number(row.update_time),
    };
  }

  /** Inserts a policy (fails with a unique violation if one exists: a concurrent first write). */
  insertPolicy(policy: StoredPolicy, projectId: string | undefined): WriteStatement {
    return stmt(
      this.#db.insertInto('iam_policies').values({
        resource: policy.resource,
        project_id: projectId ?? null,
        bindings: JSON.stringify(policy.bindings),
        etag: policy.etag,
        update_time: policy.updateTimeMs,
      }),
    );
  }

  /** Replaces a policy if its etag is still `expectedEtag` (expects one row). */
  updatePolicy(policy: StoredPolicy, expectedEtag: string): WriteStatement {
    return stmt(
      this.#db
        .updateTable('iam_policies')
        .set({
          bindings: JSON.stringify(policy.bindings),
          etag: policy.etag,
          update_time: policy.updateTimeMs,
        })
        .where('resource', '=', policy.resource)
        .where('etag', '=', expectedEtag),
      'one',
    );
  }

  /** Deletes the policy of a resource that is gone, so a new resource at the same name starts clean. */
  deletePolicy(resource: string): WriteStatement {
    return stmt(this.#db.deleteFrom('iam_policies').where('resource', '=', resource));
  }

  /** One custom role. */
  async findRole(name: string): Promise<CustomRole | undefined> {
    const row = await this.#db
      .selectFrom('iam_roles')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? toRole(row) : undefined;
  }

  /** Custom roles of a project. */
  async listRoles(projectId: string): Promise<CustomRole[]> {
    const rows = await this.#db
      .selectFrom('iam_roles')
      .selectAll()
      .where('project_id', '=', projectId)
      .orderBy('name')
      .execute();
    return rows.map(toRole);
  }

  /** Inserts a custom role. */
  insertRole(role: CustomRole): WriteStatement {
    return stmt(
      this.#db.insertInto('iam_roles').values({
        name: role.name,
        project_id: role.projectId,
        title: role.title,
        permissions: JSON.stringify(role.permissions),
        create_time: role.createTimeMs,
      }),
    );
  }

  /** A user's password hash and state. */
  async findUser(
    email: string,
  ): Promise<{ email: string; passwordHash: string; disabled: boolean } | undefined> {
    const row = await this.#db
      .selectFrom('iam_users')
      .selectAll()
      .where('email', '=', email)
      .executeTakeFirst();
    return row
      ? { email: row.email, passwordHash: row.password_hash, disabled: row.disabled === 1 }
      : undefined;
  }

  /** Inserts a user. */
  insertUser(email: string, passwordHash: string, nowMs: number): WriteStatement {
    return stmt(
      this.#db
        .insertInto('iam_users')
        .values({ email, password_hash: passwordHash, disabled: 0, create_time: nowMs }),
    );
  }

  /** Sets a user's disabled flag (expects one row). */
  setUserDisabled(email: string, disabled: boolean): WriteStatement {
    return stmt(
      this.#db
        .updateTable('iam_users')
        .set({ disabled: disabled ? 1 : 0 })
        .where('email', '=', email),
      'one',
    );
  }

  /**
   * Matches the user only while it is enabled (expects one row) and locks its row for the rest of
   * the write: a token written after it cannot race a disable, which updates the row before it
   * revokes the user's tokens (PostgreSQL waits on the lock and re-checks; SQLite has one writer).
   */
  requireEnabledUser(email: string): WriteStatement {
    return stmt(
      this.#db
        .updateTable('iam_users')
        .set({ disabled: 0 })
        .where('email', '=', email)
        .where('disabled', '=', 0),
      'one',
    );
  }

  /** Revokes every live token of a principal (any number of rows). */
  revokeAllTokens(principal: string): WriteStatement {
    return stmt(
      this.#db
        .updateTable('tokens')
        .set({ revoked: 1 })
        .where('principal', '=', principal)
        .where('revoked', '=', 0),
    );
  }

  /** One service account. */
  async findServiceAccount(email: string): Promise<ServiceAccount | undefined> {
    const row = await this.#db
      .selectFrom('iam_service_accounts')
      .selectAll()
      .where('email', '=', email)
      .executeTakeFirst();
    return row ? toServiceAccount(row) : undefined;
  }

  /** Service accounts of a project after `after`, by email. */
  async listServiceAccounts(
    projectId: string,
    after: string | undefined,
    limit: number,
  ): Promise<ServiceAccount[]> {
    let query = this.#db
      .selectFrom('iam_service_accounts')
      .selectAll()
      .where('project_id', '=', projectId)
      .orderBy('email')
      .limit(limit);
    if (after !== undefined) query = query.where('email', '>', after);
    return (await query.execute()).map(toServiceAccount);
  }

  /** Inserts a service account. */
  insertServiceAccount(account: ServiceAccount): WriteStatement {
    return stmt(
      this.#db.insertInto('iam_service_accounts').values({
        email: account.email,
        project_id: account.projectId,
        name: account.name,
        display_name: account.displayName,
        disabled: account.disabled ? 1 : 0,
        create_time: account.createTimeMs,
      }),
    );
  }

  /** Sets a service account's disabled flag (expects one row). */
  setServiceAccountDisabled(email: string, disabled: boolean): WriteStatement {
    return stmt(
      this.#db
        .updateTable('iam_service_accounts')
        .set({ disabled: disabled ? 1 : 0 })
        .where('email', '=', email),
      'one',
    );
  }

  /** Tokens of a principal. */
  async listTokens(
    principal: string,
  ): Promise<Array<{ id: string; createTimeMs: number; expireTimeMs: number | null }>> {
    const rows = await this.#db
      .selectFrom('tokens')
      .select(['id', 'create_time', 'expire_time'])
      .where('principal', '=', principal)
      .where('revoked', '=', 0)
      .orderBy('create_time')
      .execute();
    return rows.map((row) => ({
      id: row.id,
      createTimeMs: Number(row.create_time),
      expireTimeMs: row.expire_time === null ? null : Number(row.expire_time),
    }));
  }

  /** Revokes a principal's token (expects one row). */
  revokeToken(principal: string, id: string): WriteStatement {
    return stmt(
      this.#db
        .updateTable('tokens')
        .set({ revoked: 1 })
        .where('id', '=', id)
        .where('principal', '=', principal)
        .where('revoked', '=', 0),
      'one',
    );
  }

  /**
   * Records a change in the change feed (docs/changes.md), in the caller's unit, so that every node
   * drops its cached decisions and feed readers see it. `principal`: who made it; `audience`: who
   * could see the resource before a change that removes access.
   */
  recordChange(
    kind: string,
    resource: string,
    projectId: string | undefined,
    nowMs: number,
    principal = 'service:coffer',
    audience?: ChangeRecord['audience'],
  ): WriteStatement {
    return changeStatement(this.#db, {
      type: kind,
      resource,
      projectId,
      principal,
      timeMs: nowMs,
      ...(audience && !('members' in audience && audience.members.length === 0) ? { audience } : {}),
    });
  }
}
