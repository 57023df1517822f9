import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { stmt, type WriteStatement } from '../storage/storage-types.ts';

/** A stored token: only the SHA-256 of the token, never the token. */
export interface TokenRow {
  readonly id: string;
  readonly principal: string;
  readonly tokenHash: Buffer;
  readonly createTimeMs: number;
  readonly expireTimeMs: number | null;
  readonly revoked: boolean;
}

/** A statement inserting a token row; `sourceKey`, the service-account key it was exchanged with, if any. */
export function insertToken(db: Kysely<Database>, row: TokenRow, sourceKey?: string): WriteStatement {
  return stmt(
    db.insertInto('tokens').values({
      id: row.id,
      principal: row.principal,
      token_hash: row.tokenHash,
      create_time: row.createTimeMs,
      expire_time: row.expireTimeMs,
      revoked: row.revoked ? 1 : 0,
      ...(sourceKey !== undefined ? { source_key: sourceKey } : {}),
    }),
  );
}

/**
 * A statement revoking `principal`'s token with this hash, returning its id (no row when it was
 * revoked meanwhile: the end the caller asked for already holds).
 */
export function revokeTokenByHash(
  db: Kysely<Database>,
  principal: string,
  tokenHash: Buffer,
): WriteStatement {
  return stmt(
    db
      .updateTable('tokens')
      .set({ revoked: 1 })
      .where('token_hash', '=', tokenHash)
      .where('principal', '=', principal)
      .where('revoked', '=', 0)
      .returning('id'),
  );
}

/** Finds a token by the hash of its value. */
export async function findTokenByHash(
  db: Kysely<Database>,
  tokenHash: Buffer,
): Promise<TokenRow | undefined> {
  const row = await db
    .selectFrom('tokens')
    .selectAll()
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    id: row.id,
    principal: row.principal,
    tokenHash: Buffer.from(row.token_hash),
    createTimeMs: Number(row.create_time),
    expireTimeMs: row.expire_time === null ? null : Number(row.expire_time),
    revoked: row.revoked === 1,
  };
}
