import type { Kysely, Selectable } from 'kysely';
import type { Database, SmVersionsTable } from '../storage/schema.ts';
import { shredding, statementTemplate, stmt, type WriteStatement } from '../storage/storage-types.ts';
import type { Instance, SecretVersion, SecretVersionState } from './secret-types.ts';

const num = (v: number | null) => (v === null ? null : Number(v));

type VersionRow = Omit<Selectable<SmVersionsTable>, 'ciphertext' | 'wrapped_key'>;
const versionColumns = [
  'secret_uid',
  'version',
  'state',
  'binary',
  'wrap_key_uid',
  'follows_instance',
  'created_by',
  'create_time',
  'destroy_time',
] as const;

/** Every column of a version row, in insert order. */
const insertColumns = [
  'secret_uid',
  'version',
  'state',
  'binary',
  'ciphertext',
  'wrapped_key',
  'wrap_key_uid',
  'follows_instance',
  'created_by',
  'create_time',
  'destroy_time',
] as const;

function toVersion(row: VersionRow): SecretVersion {
  return {
    secretUid: row.secret_uid,
    version: Number(row.version),
    state: row.state as SecretVersionState,
    binary: Number(row.binary) === 1,
    wrapKeyUid: row.wrap_key_uid,
    followsInstance: Number(row.follows_instance) === 1,
    createdBy: row.created_by,
    createTimeMs: Number(row.create_time),
    destroyTimeMs: num(row.destroy_time),
  };
}

/** A version with its sealed parts. */
export interface SealedVersion extends SecretVersion {
  readonly ciphertext: Buffer | null;
  readonly wrappedKey: Buffer | null;
}

/** Named queries of secret versions (sm_versions), rewrap included. */
export class SecretVersionRepo {
  readonly #db: Kysely<Database>;
  // A put's version insert, compiled once.
  readonly #insert: (values: Readonly<Record<(typeof insertColumns)[number], unknown>>) => WriteStatement;

  constructor(db: Kysely<Database>) {
    this.#db = db;
    this.#insert = statementTemplate(insertColumns, (p) => db.insertInto('sm_versions').values(p));
  }

  /** Versions of a secret, ascending. */
  async listVersions(secretUid: string, after: number | undefined, limit: number): Promise<SecretVersion[]> {
    let q = this.#db
      .selectFrom('sm_versions')
      .select(versionColumns)
      .where('secret_uid', '=', secretUid)
      .orderBy('version')
      .limit(limit);
    if (after !== undefined) q = q.where('version', '>', after);
    return (await q.execute()).map(toVersion);
  }

  /** One version with its sealed parts. */
  async findSealedVersion(secretUid: string, version: number): Promise<SealedVersion | undefined> {
    const row = await this.#db
      .selectFrom('sm_versions')
      .selectAll()
      .where('secret_uid', '=', secretUid)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      ...toVersion(row),
      ciphertext: row.ciphertext ? Buffer.from(row.ciphertext) : null,
      wrappedKey: row.wrapped_key ? Buffer.from(row.wrapped_key) : null,
    };
  }

  /** The newest enabled version number, if any. */
  async latestEnabled(secretUid: string): Promise<number | undefined> {
    const row = await this.#db
      .selectFrom('sm_versions')
      .select('version')
      .where('secret_uid', '=', secretUid)
      .where('state', '=', 'enabled')
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? Number(row.version) : undefined;
  }

  /** Inserts a version. */
  insertVersion(version: SecretVersion, ciphertext: Buffer, wrappedKey: Buffer): WriteStatement {
    return this.#insert({
      secret_uid: version.secretUid,
      version: version.version,
      state: version.state,
      binary: version.binary ? 1 : 0,
      ciphertext,
      wrapped_key: wrappedKey,
      wrap_key_uid: version.wrapKeyUid,
      follows_instance: version.followsInstance ? 1 : 0,
      created_by: version.createdBy,
      create_time: version.createTimeMs,
      destroy_time: null,
    });
  }

  /** Sets a version's state if it is still `from`. */
  setVersionState(
    secretUid: string,
    version: number,
    from: SecretVersionState,
    to: SecretVersionState,
    nowMs: number,
  ): WriteStatement {
    const destroy = to === 'destroyed';
    const statement = stmt(
      this.#db
        .updateTable('sm_versions')
        .set(
          destroy ? { state: to, ciphertext: null, wrapped_key: null, destroy_time: nowMs } : { state: to },
        )
        .where('secret_uid', '=', secretUid)
        .where('version', '=', version)
        .where('state', '=', from),
      'one',
    );
    return destroy ? shredding(statement) : statement;
  }

  /** Replaces a version's wrapped data key if it is still wrapped by `fromKeyUid` (rewrap). */
  rewrapVersion(
    secretUid: string,
    version: number,
    fromKeyUid: string | null,
    toKeyUid: string | null,
    wrappedKey: Buffer,
  ): WriteStatement {
    return stmt(
      this.#db
        .updateTable('sm_versions')
        .set({ wrapped_key: wrappedKey, wrap_key_uid: toKeyUid })
        .where('secret_uid', '=', secretUid)
        .where('version', '=', version)
        .where((eb) =>
          fromKeyUid === null ? eb('wrap_key_uid', 'is', null) : eb('wrap_key_uid', '=', fromKeyUid),
        )
        .where('wrapped_key', 'is not', null),
    );
  }

  /** How many versions a rewrap to `targetKeyUid` still has to do. */
  async countToRewrap(instance: Instance, targetKeyUid: string | null): Promise<number> {
    const q = this.#toRewrap(instance, targetKeyUid).select((eb) => eb.fn.countAll<number>().as('n'));
    return Number((await q.executeTakeFirst())?.n ?? 0);
  }

  /** Versions that follow an instance's key and are not yet wrapped by `targetKeyUid`. */
  async versionsToRewrap(instance: Instance, targetKeyUid: string | null, limit: number) {
    return this.#toRewrap(instance, targetKeyUid)
      .select([
        'sm_versions.secret_uid',
        'sm_versions.version',
        'sm_versions.wrap_key_uid',
        'sm_versions.wrapped_key',
      ])
      .limit(limit)
      .execute();
  }

  /** The versions of an instance's secrets that follow its key and are not yet wrapped by `targetKeyUid`. */
  #toRewrap(instance: Instance, targetKeyUid: string | null) {
    const q = this.#db
      .selectFrom('sm_versions')
      .innerJoin('sm_secrets', 'sm_secrets.uid', 'sm_versions.secret_uid')
      .where('sm_secrets.project_id', '=', instance.projectId)
      .where('sm_secrets.region_id', '=', instance.regionId)
      .where('sm_secrets.instance_id', '=', instance.id)
      .where('sm_versions.follows_instance', '=', 1)
      .where('sm_versions.wrapped_key', 'is not', null);
    return targetKeyUid === null
      ? q.where('sm_versions.wrap_key_uid', 'is not', null)
      : q.where((eb) =>
          eb.or([
            eb('sm_versions.wrap_key_uid', 'is', null),
            eb('sm_versions.wrap_key_uid', '!=', targetKeyUid),
          ]),
        );
  }
}
