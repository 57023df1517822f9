import type { Kysely } from 'kysely';
import { type Database, toBuffer } from '../storage/schema.ts';
import { statementTemplate, stmt, type WriteStatement } from '../storage/storage-types.ts';

/** Named queries of what points at a secret's version: stages (sm_stages) and idempotency keys (sm_idempotency). */
export class SecretStageRepo {
  readonly #db: Kysely<Database>;
  // A put's writes, compiled once.
  readonly #moveStage: (values: { uid: string; stage: string; version: number }) => WriteStatement;
  readonly #moveTwoStages: (values: {
    uid: string;
    stageA: string;
    versionA: number;
    stageB: string;
    versionB: number;
  }) => WriteStatement;
  readonly #insertIdempotency: (values: {
    uid: string;
    key: string;
    version: number;
    now: number;
    digest: Buffer;
  }) => WriteStatement;

  constructor(db: Kysely<Database>) {
    this.#db = db;
    this.#moveStage = statementTemplate(['uid', 'stage', 'version'], (p) =>
      db
        .insertInto('sm_stages')
        .values({ secret_uid: p.uid, stage: p.stage, version: p.version })
        .onConflict((oc) => oc.columns(['secret_uid', 'stage']).doUpdateSet({ version: p.version })),
    );
    this.#moveTwoStages = statementTemplate(['uid', 'stageA', 'versionA', 'stageB', 'versionB'], (p) =>
      db
        .insertInto('sm_stages')
        .values([
          { secret_uid: p.uid, stage: p.stageA, version: p.versionA },
          { secret_uid: p.uid, stage: p.stageB, version: p.versionB },
        ])
        .onConflict((oc) =>
          oc.columns(['secret_uid', 'stage']).doUpdateSet((eb) => ({ version: eb.ref('excluded.version') })),
        ),
    );
    this.#insertIdempotency = statementTemplate(['uid', 'key', 'version', 'now', 'digest'], (p) =>
      db.insertInto('sm_idempotency').values({
        secret_uid: p.uid,
        key: p.key,
        version: p.version,
        create_time: p.now,
        request_digest: p.digest,
      }),
    );
  }

  /** Stages of a secret: stage → version. */
  async stages(secretUid: string): Promise<Map<string, number>> {
    const rows = await this.#db
      .selectFrom('sm_stages')
      .select(['stage', 'version'])
      .where('secret_uid', '=', secretUid)
      .execute();
    return new Map(rows.map((row) => [row.stage, Number(row.version)]));
  }

  /** Puts `stage` on `version` (taking it off any other version). */
  moveStage(secretUid: string, stage: string, version: number): WriteStatement {
    return this.#moveStage({ uid: secretUid, stage, version });
  }

  /**
   * Puts two different stages on their versions in one statement (a put's `previous` and `current`:
   * one statement fewer in its unit); the stages must differ (one row may be upserted once).
   */
  moveTwoStages(
    secretUid: string,
    a: readonly [string, number],
    b: readonly [string, number],
  ): WriteStatement {
    if (a[0] === b[0]) throw new Error('moveTwoStages: the two stages must differ');
    return this.#moveTwoStages({
      uid: secretUid,
      stageA: a[0],
      versionA: a[1],
      stageB: b[0],
      versionB: b[1],
    });
  }

  /** Takes `stage` off `version` (nothing when it is elsewhere by then: one row per affected stage). */
  removeStage(secretUid: string, stage: string, version: number): WriteStatement {
    return stmt(
      this.#db
        .deleteFrom('sm_stages')
        .where('secret_uid', '=', secretUid)
        .where('stage', '=', stage)
        .where('version', '=', version),
      'one',
    );
  }

  /** Every idempotency key of a secret and the version it made (a version has at most one). */
  async versionKeys(secretUid: string): Promise<Array<{ key: string; version: number }>> {
    const rows = await this.#db
      .selectFrom('sm_idempotency')
      .select(['key', 'version'])
      .where('secret_uid', '=', secretUid)
      .execute();
    return rows.map((row) => ({ key: row.key, version: Number(row.version) }));
  }

  /** The version an idempotency key produced, and the sealed digest of its request, if any. */
  async idempotentVersion(
    secretUid: string,
    key: string,
  ): Promise<{ version: number; sealedDigest: Buffer | null } | undefined> {
    const row = await this.#db
      .selectFrom('sm_idempotency')
      .select(['version', 'request_digest'])
      .where('secret_uid', '=', secretUid)
      .where('key', '=', key)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      version: Number(row.version),
      sealedDigest: row.request_digest ? toBuffer(row.request_digest) : null,
    };
  }

  /** Records an idempotency key and its request's sealed digest (unique violation on a concurrent duplicate). */
  insertIdempotency(
    secretUid: string,
    key: string,
    version: number,
    sealedDigest: Buffer,
    nowMs: number,
  ): WriteStatement {
    return this.#insertIdempotency({ uid: secretUid, key, version, now: nowMs, digest: sealedDigest });
  }
}
