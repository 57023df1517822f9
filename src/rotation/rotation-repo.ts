import type { Kysely, Selectable } from 'kysely';
import type { Database, SmRotationsTable } from '../storage/schema.ts';
import { stmt, type WriteStatement } from '../storage/storage-types.ts';
import type { RotationRecord, RotationState } from './rotation-types.ts';
import type { RotationStep } from './rotator.ts';

const num = (v: number | null) => (v === null ? null : Number(v));

function toRecord(row: Selectable<SmRotationsTable>): RotationRecord {
  const failureTime = num(row.last_failure_time);
  return {
    secretUid: row.secret_uid,
    state: row.state as RotationState,
    step: row.step as RotationStep | null,
    rotationId: row.rotation_id,
    pendingVersion: num(row.pending_version),
    baseVersion: num(row.base_version),
    attempts: Number(row.attempts),
    nextAttemptTimeMs: num(row.next_attempt_time),
    lastSuccessTimeMs: num(row.last_success_time),
    lastFailure:
      failureTime === null
        ? null
        : {
            timeMs: failureTime,
            step: (row.last_failure_step ?? 'create') as RotationStep,
            message: row.last_failure_message ?? '',
          },
    claimOwner: row.claim_owner,
    claimUntilMs: num(row.claim_until),
  };
}

/** What a step's durable record changes on a secret's rotation row. */
export type RotationUpdate = Partial<Omit<SmRotationsTable, 'secret_uid' | 'claim_owner'>>;

/**
 * Named queries of rotation state (sm_rotations). Every change of a claimed rotation is a
 * compare-and-set on the claim (`claim_owner`, `expect: 'one'`): a node whose claim lapsed and was
 * taken over writes nothing.
 */
export class RotationRepo {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** A secret's rotation row, if it has one. */
  async find(secretUid: string): Promise<RotationRecord | undefined> {
    const row = await this.#db
      .selectFrom('sm_rotations')
      .selectAll()
      .where('secret_uid', '=', secretUid)
      .executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  /** Rows of several secrets at once (a list's `rotationStatus`). */
  async findMany(secretUids: readonly string[]): Promise<Map<string, RotationRecord>> {
    if (secretUids.length === 0) return new Map();
    const rows = await this.#db
      .selectFrom('sm_rotations')
      .selectAll()
      .where('secret_uid', 'in', secretUids)
      .execute();
    return new Map(rows.map((row) => [row.secret_uid, toRecord(row)]));
  }

  /**
   * Secrets with a rotator whose schedule is due and that are not rotating already (a rotation in
   * progress is retried by `dueRetries`, on its backoff).
   */
  async dueScheduled(nowMs: number, limit: number): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('sm_secrets')
      .leftJoin('sm_rotations', 'sm_rotations.secret_uid', 'sm_secrets.uid')
      .select('sm_secrets.uid')
      .where('sm_secrets.rotator', 'is not', null)
      .where('sm_secrets.next_rotation_time', '<=', nowMs)
      .where('sm_secrets.delete_time', 'is', null)
      .where((eb) =>
        eb.or([eb('sm_rotations.state', 'is', null), eb('sm_rotations.state', '!=', 'in_progress')]),
      )
      .orderBy('sm_secrets.next_rotation_time')
      .limit(limit)
      .execute();
    return rows.map((row) => row.uid);
  }

  /**
   * Rotations in progress whose next attempt is due (or that a crashed node left, claim lapsed), of
   * secrets that still have a rotator and are not pending deletion (those wait for a manual rotate).
   * `ignoreClaims` (one process per store): claims are checked by `claim` alone.
   */
  async dueRetries(nowMs: number, limit: number, ignoreClaims = false): Promise<string[]> {
    let q = this.#db
      .selectFrom('sm_rotations')
      .innerJoin('sm_secrets', 'sm_secrets.uid', 'sm_rotations.secret_uid')
      .select('sm_rotations.secret_uid')
      .where('sm_rotations.state', '=', 'in_progress')
      .where('sm_secrets.rotator', 'is not', null)
      .where('sm_secrets.delete_time', 'is', null)
      .where((eb) =>
        eb.or([
          eb('sm_rotations.next_attempt_time', 'is', null),
          eb('sm_rotations.next_attempt_time', '<=', nowMs),
        ]),
      );
    if (!ignoreClaims)
      q = q.where((eb) =>
        eb.or([eb('sm_rotations.claim_until', 'is', null), eb('sm_rotations.claim_until', '<', nowMs)]),
      );
    return (await q.limit(limit).execute()).map((row) => row.secret_uid);
  }

  /**
   * Claims a secret's rotation for `owner` until `untilMs` (creating an idle row first): a unit of
   * two statements, the second `expect: 'one'`, rejected while another owner's claim lasts. With
   * `deadUnlessPrefix` (one process per store, SQLite), a claim whose owner does not start with it
   * was left by a stopped process and is taken over at once.
   */
  claim(
    secretUid: string,
    owner: string,
    nowMs: number,
    untilMs: number,
    deadUnlessPrefix?: string,
  ): WriteStatement[] {
    return [
      stmt(
        this.#db
          .insertInto('sm_rotations')
          .values({ secret_uid: secretUid, state: 'idle', attempts: 0 })
          .onConflict((oc) => oc.column('secret_uid').doNothing()),
      ),
      stmt(
        this.#db
          .updateTable('sm_rotations')
          .set({ claim_owner: owner, claim_until: untilMs })
          .where('secret_uid', '=', secretUid)
          .where((eb) =>
            eb.or([
              eb('claim_owner', 'is', null),
              eb('claim_until', '<', nowMs),
              eb('claim_owner', '=', owner),
              ...(deadUnlessPrefix === undefined
                ? []
                : [eb('claim_owner', 'not like', `${deadUnlessPrefix}%`)]),
            ]),
          ),
        'one',
      ),
    ];
  }

  /** Changes a claimed rotation's row (the claim must still be `owner`'s). */
  update(secretUid: string, owner: string, changes: RotationUpdate): WriteStatement {
    return stmt(
      this.#db
        .updateTable('sm_rotations')
        .set(changes)
        .where('secret_uid', '=', secretUid)
        .where('claim_owner', '=', owner),
      'one',
    );
  }

  /** Releases `owner`'s claim (nothing when it lapsed and another node holds it). */
  release(secretUid: string, owner: string): WriteStatement {
    return stmt(
      this.#db
        .updateTable('sm_rotations')
        .set({ claim_owner: null, claim_until: null })
        .where('secret_uid', '=', secretUid)
        .where('claim_owner', '=', owner),
    );
  }

  /** Takes a stage off a secret (finish drops `pending`). */
  dropStage(secretUid: string, stage: string): WriteStatement {
    return stmt(
      this.#db.deleteFrom('sm_stages').where('secret_uid', '=', secretUid).where('stage', '=', stage),
    );
  }

  /**
   * Moves a version from state `from` to `to` if it is still `from` (no expectation: the pending
   * version is disabled in create's unit and enabled in finish's, whatever an operator did between).
   */
  versionState(secretUid: string, version: number, from: 'enabled' | 'disabled', to: 'enabled' | 'disabled') {
    return stmt(
      this.#db
        .updateTable('sm_versions')
        .set({ state: to })
        .where('secret_uid', '=', secretUid)
        .where('version', '=', version)
        .where('state', '=', from),
    );
  }

  /** The latest version number of a secret (next_version − 1), read now; undefined when it is gone. */
  async latestVersion(secretUid: string): Promise<number | undefined> {
    const row = await this.#db
      .selectFrom('sm_secrets')
      .select('next_version')
      .where('uid', '=', secretUid)
      .executeTakeFirst();
    return row ? Number(row.next_version) - 1 : undefined;
  }

  /**
   * Asserts (in a write unit) that `version` is still a secret's latest version: rejected
   * (`WriteRejected`) once another version was put.
   */
  expectLatestVersion(secretUid: string, version: number): WriteStatement {
    return stmt(
      this.#db
        .updateTable('sm_secrets')
        .set({ next_version: version + 1 })
        .where('uid', '=', secretUid)
        .where('next_version', '=', version + 1),
      'one',
    );
  }

  /** Sets a secret's next scheduled rotation (the engine's own column, next to the etag's CAS). */
  setNextRotation(secretUid: string, nextRotationTimeMs: number | null, etag: string, nowMs: number) {
    return stmt(
      this.#db
        .updateTable('sm_secrets')
        .set({ next_rotation_time: nextRotationTimeMs, etag, update_time: nowMs })
        .where('uid', '=', secretUid),
      'one',
    );
  }
}
