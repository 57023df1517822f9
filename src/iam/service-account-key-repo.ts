import type { Kysely, Selectable } from 'kysely';
import type { ServiceAccountKeyAlgorithm } from '../core/service-account-key-names.ts';
import type { Database, IamServiceAccountKeysTable } from '../storage/schema.ts';
import { stmt, type WriteStatement } from '../storage/storage-types.ts';
import { insertToken, type TokenRow } from './token-repo.ts';

/** A service-account key as stored: its public half only. */
export interface ServiceAccountKey {
  readonly id: string;
  readonly serviceAccount: string;
  readonly projectId: string;
  readonly algorithm: ServiceAccountKeyAlgorithm;
  /** SPKI PEM. */
  readonly publicKey: string;
  readonly disabled: boolean;
  readonly createTimeMs: number;
  readonly expireTimeMs: number | null;
}

function toKey(row: Selectable<IamServiceAccountKeysTable>): ServiceAccountKey {
  return {
    id: row.id,
    serviceAccount: row.service_account,
    projectId: row.project_id,
    algorithm: row.algorithm as ServiceAccountKeyAlgorithm,
    publicKey: row.public_key,
    disabled: row.disabled === 1,
    createTimeMs: Number(row.create_time),
    expireTimeMs: row.expire_time === null ? null : Number(row.expire_time),
  };
}

/** Named queries and statements of service-account keys and the assertion replay guard. */
export class ServiceAccountKeyRepo {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** A statement inserting a key. */
  insertKey(key: ServiceAccountKey): WriteStatement {
    return stmt(
      this.#db.insertInto('iam_service_account_keys').values({
        id: key.id,
        service_account: key.serviceAccount,
        project_id: key.projectId,
        algorithm: key.algorithm,
        public_key: key.publicKey,
        disabled: key.disabled ? 1 : 0,
        create_time: key.createTimeMs,
        expire_time: key.expireTimeMs,
      }),
    );
  }

  /** A key by id. */
  async findKey(id: string): Promise<ServiceAccountKey | undefined> {
    const row = await this.#db
      .selectFrom('iam_service_account_keys')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toKey(row) : undefined;
  }

  /** A page of an account's keys, by id, after `afterId`. */
  async listKeys(
    serviceAccount: string,
    afterId: string | undefined,
    limit: number,
  ): Promise<ServiceAccountKey[]> {
    let query = this.#db
      .selectFrom('iam_service_account_keys')
      .selectAll()
      .where('service_account', '=', serviceAccount);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    const rows = await query.orderBy('id').limit(limit).execute();
    return rows.map(toKey);
  }

  /** A statement disabling or enabling a key of `serviceAccount` and setting its expiry (exactly one row). */
  setKeyDisabled(
    serviceAccount: string,
    id: string,
    disabled: boolean,
    expireTimeMs: number | null,
  ): WriteStatement {
    return stmt(
      this.#db
        .updateTable('iam_service_account_keys')
        .set({ disabled: disabled ? 1 : 0, expire_time: expireTimeMs })
        .where('id', '=', id)
        .where('service_account', '=', serviceAccount),
      'one',
    );
  }

  /** A statement deleting a key of `serviceAccount` (exactly one row). */
  deleteKey(serviceAccount: string, id: string): WriteStatement {
    return stmt(
      this.#db
        .deleteFrom('iam_service_account_keys')
        .where('id', '=', id)
        .where('service_account', '=', serviceAccount),
      'one',
    );
  }

  /**
   * A statement that matches exactly one row only while the key is enabled and unexpired. Put first
   * in an exchange's unit, it also locks the key's row (PostgreSQL), so a concurrent disable either
   * lands before (the exchange is rejected) or after (and revokes the token it issued).
   */
  requireKeyUsable(id: string, nowMs: number): WriteStatement {
    return stmt(
      this.#db
        .updateTable('iam_service_account_keys')
        .set((eb) => ({ disabled: eb.ref('disabled') }))
        .where('id', '=', id)
        .where('disabled', '=', 0)
        .where((eb) => eb.or([eb('expire_time', 'is', null), eb('expire_time', '>', nowMs)])),
      'one',
    );
  }

  /** A statement revoking every live token exchanged with a key. */
  revokeTokensOfKey(id: string): WriteStatement {
    return stmt(
      this.#db
        .updateTable('tokens')
        .set({ revoked: 1 })
        .where('source_key', '=', id)
        .where('revoked', '=', 0),
    );
  }

  /** A statement recording an assertion id; a replay violates the primary key (WriteRejected unique). */
  insertJti(serviceAccount: string, jti: string, expireTimeMs: number): WriteStatement {
    return stmt(
      this.#db
        .insertInto('iam_assertion_jtis')
        .values({ service_account: serviceAccount, jti, expire_time: expireTimeMs }),
    );
  }

  /** A statement inserting a token exchanged with key `keyId`. */
  insertKeyToken(row: TokenRow, keyId: string): WriteStatement {
    return insertToken(this.#db, row, keyId);
  }

  /** A statement deleting assertion ids that expired before `nowMs` (they can no longer be replayed). */
  pruneJtis(nowMs: number): WriteStatement {
    return stmt(this.#db.deleteFrom('iam_assertion_jtis').where('expire_time', '<', nowMs));
  }
}
