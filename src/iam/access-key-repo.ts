import type { Kysely, Selectable } from 'kysely';
import { type Database, type IamAccessKeysTable, toBuffer } from '../storage/schema.ts';
import { stmt, type WriteStatement } from '../storage/storage-types.ts';

/** An AWS access key as stored (the secret sealed by the root key). */
export interface AccessKeyRow {
  /** `AKIA` and 16 base32 characters. */
  readonly id: string;
  /** `user:{email}` or `serviceAccount:{email}`. */
  readonly principal: string;
  /** The project the key acts in (its `awsAccountId` is the AWS account). */
  readonly projectId: string;
  readonly secretSealed: Buffer;
  readonly disabled: boolean;
  readonly createTimeMs: number;
}

function toRow(row: Selectable<IamAccessKeysTable>): AccessKeyRow {
  return {
    id: row.id,
    principal: row.principal,
    projectId: row.project_id,
    secretSealed: toBuffer(row.secret_sealed),
    disabled: row.disabled === 1,
    createTimeMs: Number(row.create_time),
  };
}

/** Named queries and statements of AWS access keys. */
export class AccessKeyRepo {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** A statement inserting a key. */
  insert(key: AccessKeyRow): WriteStatement {
    return stmt(
      this.#db.insertInto('iam_access_keys').values({
        id: key.id,
        principal: key.principal,
        project_id: key.projectId,
        secret_sealed: key.secretSealed,
        disabled: key.disabled ? 1 : 0,
        create_time: key.createTimeMs,
      }),
    );
  }

  /** A key by id. */
  async find(id: string): Promise<AccessKeyRow | undefined> {
    const row = await this.#db
      .selectFrom('iam_access_keys')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toRow(row) : undefined;
  }

  /** A page of a principal's keys, by id, after `afterId`. */
  async list(principal: string, afterId: string | undefined, limit: number): Promise<AccessKeyRow[]> {
    let query = this.#db.selectFrom('iam_access_keys').selectAll().where('principal', '=', principal);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    return (await query.orderBy('id').limit(limit).execute()).map(toRow);
  }

  /** A statement disabling or enabling a key of `principal` (exactly one row). */
  setDisabled(principal: string, id: string, disabled: boolean): WriteStatement {
    return stmt(
      this.#db
        .updateTable('iam_access_keys')
        .set({ disabled: disabled ? 1 : 0 })
        .where('id', '=', id)
        .where('principal', '=', principal),
      'one',
    );
  }

  /** A statement deleting a key of `principal` (exactly one row). */
  delete(principal: string, id: string): WriteStatement {
    return stmt(
      this.#db.deleteFrom('iam_access_keys').where('id', '=', id).where('principal', '=', principal),
      'one',
    );
  }
}

/** A statement deleting every access key of `principal` (any number of rows). */
export function deleteAccessKeysOf(db: Kysely<Database>, principal: string): WriteStatement {
  return stmt(db.deleteFrom('iam_access_keys').where('principal', '=', principal));
}
