import type { Kysely, Selectable } from 'kysely';
import {
  type Database,
  type SmInstancesTable,
  type SmSecretsTable,
  type SmVersionsTable,
  toBuffer,
} from '../storage/schema.ts';
import { shredding, stmt, type WriteStatement } from '../storage/storage-types.ts';
import type {
  Instance,
  InstanceKmsKey,
  Secret,
  SecretsLocation,
  SecretVersion,
  SecretVersionState,
} from './secret-types.ts';

const num = (v: number | null) => (v === null ? null : Number(v));

function toInstance(row: Selectable<SmInstancesTable>): Instance {
  return {
    projectId: row.project_id,
    regionId: row.region_id,
    id: row.id,
    name: row.name,
    kmsKey: row.kms_key === null ? null : (JSON.parse(row.kms_key) as InstanceKmsKey),
    kmsKeyUid: row.kms_key_uid,
    etag: row.etag,
    createTimeMs: Number(row.create_time),
    updateTimeMs: Number(row.update_time),
  };
}

function toSecret(row: Selectable<SmSecretsTable>): Secret {
  return {
    uid: row.uid,
    projectId: row.project_id,
    regionId: row.region_id,
    instanceId: row.instance_id,
    path: row.path,
    kmsKeyUid: row.kms_key_uid,
    labels: JSON.parse(row.labels) as Record<string, string>,
    annotations: JSON.parse(row.annotations) as Record<string, string>,
    expireTimeMs: num(row.expire_time),
    rotationPeriodSeconds: num(row.rotation_period_seconds),
    nextRotationTimeMs: num(row.next_rotation_time),
    deleteTimeMs: num(row.delete_time),
    nextVersion: Number(row.next_version),
    etag: row.etag,
    createTimeMs: Number(row.create_time),
    updateTimeMs: Number(row.update_time),
  };
}

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

/** Named queries of the Secrets Manager tables. */
export class SecretsRepo {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** One instance. */
  async findInstance(location: SecretsLocation, id: string): Promise<Instance | undefined> {
    const row = await this.#db
      .selectFrom('sm_instances')
      .selectAll()
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toInstance(row) : undefined;
  }

  /** Ids of the instances of a location named `name` (at most `limit`). */
  async instanceIdsNamed(location: SecretsLocation, name: string, limit: number): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('sm_instances')
      .select('id')
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .where('name', '=', name)
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /** Instances of a location after `after`, by id. */
  async listInstances(
    location: SecretsLocation,
    after: string | undefined,
    limit: number,
  ): Promise<Instance[]> {
    let q = this.#db
      .selectFrom('sm_instances')
      .selectAll()
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .orderBy('id')
      .limit(limit);
    if (after !== undefined) q = q.where('id', '>', after);
    return (await q.execute()).map(toInstance);
  }

  /** Instances whose key is `keyUid`. */
  async instancesUsingKey(keyUid: string): Promise<Instance[]> {
    return (
      await this.#db.selectFrom('sm_instances').selectAll().where('kms_key_uid', '=', keyUid).execute()
    ).map(toInstance);
  }

  /** Inserts an instance. */
  insertInstance(instance: Instance): WriteStatement {
    return stmt(
      this.#db.insertInto('sm_instances').values({
        project_id: instance.projectId,
        region_id: instance.regionId,
        id: instance.id,
        name: instance.name,
        kms_key: instance.kmsKey ? JSON.stringify(instance.kmsKey) : null,
        kms_key_uid: instance.kmsKeyUid,
        etag: instance.etag,
        create_time: instance.createTimeMs,
        update_time: instance.updateTimeMs,
      }),
    );
  }

  /** Updates an instance if its etag is still `expectedEtag`. */
  updateInstance(instance: Instance, expectedEtag: string): WriteStatement {
    return stmt(
      this.#db
        .updateTable('sm_instances')
        .set({
          name: instance.name,
          kms_key: instance.kmsKey ? JSON.stringify(instance.kmsKey) : null,
          kms_key_uid: instance.kmsKeyUid,
          etag: instance.etag,
          update_time: instance.updateTimeMs,
        })
        .where('project_id', '=', instance.projectId)
        .where('region_id', '=', instance.regionId)
        .where('id', '=', instance.id)
        .where('etag', '=', expectedEtag),
      'one',
    );
  }

  /** Deletes an instance (expects one row). */
  deleteInstance(instance: Instance): WriteStatement {
    return stmt(
      this.#db
        .deleteFrom('sm_instances')
        .where('project_id', '=', instance.projectId)
        .where('region_id', '=', instance.regionId)
        .where('id', '=', instance.id),
      'one',
    );
  }

  /** Whether an instance holds any secret (pending deletion included). */
  async instanceHasSecrets(instance: Instance): Promise<boolean> {
    const row = await this.#db
      .selectFrom('sm_secrets')
      .select('uid')
      .where('project_id', '=', instance.projectId)
      .where('region_id', '=', instance.regionId)
      .where('instance_id', '=', instance.id)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** One secret by path. */
  async findSecret(
    instance: { projectId: string; regionId: string; id: string },
    path: string,
  ): Promise<Secret | undefined> {
    const row = await this.#db
      .selectFrom('sm_secrets')
      .selectAll()
      .where('project_id', '=', instance.projectId)
      .where('region_id', '=', instance.regionId)
      .where('instance_id', '=', instance.id)
      .where('path', '=', path)
      .executeTakeFirst();
    return row ? toSecret(row) : undefined;
  }

  /** One secret by uid. */
  async findSecretByUid(uid: string): Promise<Secret | undefined> {
    const row = await this.#db.selectFrom('sm_secrets').selectAll().where('uid', '=', uid).executeTakeFirst();
    return row ? toSecret(row) : undefined;
  }

  /** Secrets of an instance, by path, after `after`, optionally under a prefix. */
  async listSecrets(
    instance: Instance,
    prefix: string | undefined,
    after: string | undefined,
    limit: number,
  ): Promise<Secret[]> {
    let q = this.#db
      .selectFrom('sm_secrets')
      .selectAll()
      .where('project_id', '=', instance.projectId)
      .where('region_id', '=', instance.regionId)
      .where('instance_id', '=', instance.id)
      .orderBy('path')
      .limit(limit);
    if (after !== undefined) q = q.where('path', '>', after);
    if (prefix)
      q = q.where((eb) => eb(eb.fn('substr', ['path', eb.val(1), eb.val(prefix.length)]), '=', prefix));
    return (await q.execute()).map(toSecret);
  }

  /** Secrets bound explicitly to `keyUid`. */
  async secretsBoundToKey(keyUid: string, limit: number): Promise<Secret[]> {
    return (
      await this.#db
        .selectFrom('sm_secrets')
        .selectAll()
        .where('kms_key_uid', '=', keyUid)
        .limit(limit)
        .execute()
    ).map(toSecret);
  }

  /** Secrets whose expiry, deletion or rotation time has come. */
  async secretsDue(
    column: 'expire_time' | 'delete_time' | 'next_rotation_time',
    nowMs: number,
    limit: number,
  ): Promise<Secret[]> {
    return (
      await this.#db.selectFrom('sm_secrets').selectAll().where(column, '<=', nowMs).limit(limit).execute()
    ).map(toSecret);
  }

  /** Inserts a secret. */
  insertSecret(secret: Secret): WriteStatement {
    return stmt(
      this.#db.insertInto('sm_secrets').values({
        uid: secret.uid,
        project_id: secret.projectId,
        region_id: secret.regionId,
        instance_id: secret.instanceId,
        path: secret.path,
        kms_key_uid: secret.kmsKeyUid,
        labels: JSON.stringify(secret.labels),
        annotations: JSON.stringify(secret.annotations),
        expire_time: secret.expireTimeMs,
        rotation_period_seconds: secret.rotationPeriodSeconds,
        next_rotation_time: secret.nextRotationTimeMs,
        delete_time: secret.deleteTimeMs,
        next_version: secret.nextVersion,
        etag: secret.etag,
        create_time: secret.createTimeMs,
        update_time: secret.updateTimeMs,
      }),
    );
  }

  /** Replaces a secret's mutable metadata if its etag is still `expectedEtag`. */
  updateSecret(secret: Secret, expectedEtag: string): WriteStatement {
    return stmt(
      this.#db
        .updateTable('sm_secrets')
        .set({
          labels: JSON.stringify(secret.labels),
          annotations: JSON.stringify(secret.annotations),
          expire_time: secret.expireTimeMs,
          rotation_period_seconds: secret.rotationPeriodSeconds,
          next_rotation_time: secret.nextRotationTimeMs,
          delete_time: secret.deleteTimeMs,
          etag: secret.etag,
          update_time: secret.updateTimeMs,
        })
        .where('uid', '=', secret.uid)
        .where('etag', '=', expectedEtag),
      'one',
    );
  }

  /** Claims version number `version` (compare-and-set on next_version), so concurrent puts never share one. */
  claimVersion(secretUid: string, version: number, etag: string, nowMs: number): WriteStatement {
    return stmt(
      this.#db
        .updateTable('sm_secrets')
        .set({ next_version: version + 1, etag, update_time: nowMs })
        .where('uid', '=', secretUid)
        .where('next_version', '=', version)
        .where('delete_time', 'is', null),
      'one',
    );
  }

  /** Deletes a secret and everything of it (crypto-shredding its versions). */
  purgeSecret(secretUid: string): WriteStatement[] {
    return [
      shredding(stmt(this.#db.deleteFrom('sm_versions').where('secret_uid', '=', secretUid))),
      stmt(this.#db.deleteFrom('sm_stages').where('secret_uid', '=', secretUid)),
      stmt(this.#db.deleteFrom('sm_idempotency').where('secret_uid', '=', secretUid)),
      stmt(this.#db.deleteFrom('sm_secrets').where('uid', '=', secretUid), 'one'),
    ];
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
    return stmt(
      this.#db.insertInto('sm_versions').values({
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
      }),
    );
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
    let q = this.#db
      .selectFrom('sm_versions')
      .innerJoin('sm_secrets', 'sm_secrets.uid', 'sm_versions.secret_uid')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('sm_secrets.project_id', '=', instance.projectId)
      .where('sm_secrets.region_id', '=', instance.regionId)
      .where('sm_secrets.instance_id', '=', instance.id)
      .where('sm_versions.follows_instance', '=', 1)
      .where('sm_versions.wrapped_key', 'is not', null);
    q =
      targetKeyUid === null
        ? q.where('sm_versions.wrap_key_uid', 'is not', null)
        : q.where((eb) =>
            eb.or([
              eb('sm_versions.wrap_key_uid', 'is', null),
              eb('sm_versions.wrap_key_uid', '!=', targetKeyUid),
            ]),
          );
    return Number((await q.executeTakeFirst())?.n ?? 0);
  }

  /** Versions that follow an instance's key and are not yet wrapped by `targetKeyUid`. */
  async versionsToRewrap(instance: Instance, targetKeyUid: string | null, limit: number) {
    let q = this.#db
      .selectFrom('sm_versions')
      .innerJoin('sm_secrets', 'sm_secrets.uid', 'sm_versions.secret_uid')
      .select([
        'sm_versions.secret_uid',
        'sm_versions.version',
        'sm_versions.wrap_key_uid',
        'sm_versions.wrapped_key',
      ])
      .where('sm_secrets.project_id', '=', instance.projectId)
      .where('sm_secrets.region_id', '=', instance.regionId)
      .where('sm_secrets.instance_id', '=', instance.id)
      .where('sm_versions.follows_instance', '=', 1)
      .where('sm_versions.wrapped_key', 'is not', null)
      .limit(limit);
    q =
      targetKeyUid === null
        ? q.where('sm_versions.wrap_key_uid', 'is not', null)
        : q.where((eb) =>
            eb.or([
              eb('sm_versions.wrap_key_uid', 'is', null),
              eb('sm_versions.wrap_key_uid', '!=', targetKeyUid),
            ]),
          );
    return q.execute();
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
    return stmt(
      this.#db
        .insertInto('sm_stages')
        .values({ secret_uid: secretUid, stage, version })
        .onConflict((oc) => oc.columns(['secret_uid', 'stage']).doUpdateSet({ version })),
    );
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
    return stmt(
      this.#db.insertInto('sm_idempotency').values({
        secret_uid: secretUid,
        key,
        version,
        create_time: nowMs,
        request_digest: sealedDigest,
      }),
    );
  }
}
