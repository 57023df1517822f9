import type { Kysely, Selectable } from 'kysely';
import type { KmsAlgorithm, KmsPurpose } from '../crypto/kms-algorithms.ts';
import type { Database, KmsKeyRingsTable, KmsKeysTable, KmsKeyVersionsTable } from '../storage/schema.ts';
import { shredding, stmt, type WriteStatement } from '../storage/storage-types.ts';
import type { CryptoKey, KeyRing, KeyState, KeyVersion, KmsLocation, VersionState } from './kms-types.ts';

function toKey(row: Selectable<KmsKeysTable>): CryptoKey {
  return {
    uid: row.uid,
    projectId: row.project_id,
    regionId: row.region_id,
    keyRingId: row.key_ring_id,
    id: row.id,
    slug: row.slug,
    displayName: row.display_name,
    algorithm: row.algorithm as KmsAlgorithm,
    purpose: row.purpose as KmsPurpose,
    state: row.state as KeyState,
    primaryVersion: Number(row.primary_version),
    rotationPeriodSeconds: row.rotation_period_seconds === null ? null : Number(row.rotation_period_seconds),
    nextRotationTimeMs: row.next_rotation_time === null ? null : Number(row.next_rotation_time),
    deletionTimeMs: row.deletion_time === null ? null : Number(row.deletion_time),
    createTimeMs: Number(row.create_time),
    updateTimeMs: Number(row.update_time),
  };
}

function toKeyRing(row: Selectable<KmsKeyRingsTable>): KeyRing {
  return {
    projectId: row.project_id,
    regionId: row.region_id,
    id: row.id,
    displayName: row.display_name,
    description: row.description,
    createTimeMs: Number(row.create_time),
  };
}

function toVersion(
  row: Omit<Selectable<KmsKeyVersionsTable>, 'material'> & { has_material: number | string },
): KeyVersion {
  return {
    keyUid: row.key_uid,
    version: Number(row.version),
    state: row.state as VersionState,
    hasMaterial: Number(row.has_material) === 1,
    publicKeyPem: row.public_key_pem,
    createTimeMs: Number(row.create_time),
    destroyTimeMs: row.destroy_time === null ? null : Number(row.destroy_time),
  };
}

/** The mutable fields of a key. */
export type KeyChanges = Partial<
  Pick<
    CryptoKey,
    | 'state'
    | 'primaryVersion'
    | 'deletionTimeMs'
    | 'nextRotationTimeMs'
    | 'rotationPeriodSeconds'
    | 'updateTimeMs'
  >
>;

/** Named queries of the KMS tables. */
export class KmsRepo {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** One key ring. */
  async findKeyRing(location: KmsLocation, id: string): Promise<KeyRing | undefined> {
    const row = await this.#db
      .selectFrom('kms_key_rings')
      .selectAll()
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toKeyRing(row) : undefined;
  }

  /** Key rings of a location after `after`, by id. */
  async listKeyRings(location: KmsLocation, after: string | undefined, limit: number): Promise<KeyRing[]> {
    let query = this.#db
      .selectFrom('kms_key_rings')
      .selectAll()
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .orderBy('id')
      .limit(limit);
    if (after !== undefined) query = query.where('id', '>', after);
    return (await query.execute()).map(toKeyRing);
  }

  /** Inserts a key ring (unique violation when the id is taken in that location). */
  insertKeyRing(ring: KeyRing): WriteStatement {
    return stmt(
      this.#db.insertInto('kms_key_rings').values({
        project_id: ring.projectId,
        region_id: ring.regionId,
        id: ring.id,
        display_name: ring.displayName,
        description: ring.description,
        create_time: ring.createTimeMs,
      }),
    );
  }

  /** One key by its name parts. */
  async findKey(location: KmsLocation, keyRingId: string, id: string): Promise<CryptoKey | undefined> {
    const row = await this.#db
      .selectFrom('kms_keys')
      .selectAll()
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .where('key_ring_id', '=', keyRingId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toKey(row) : undefined;
  }

  /** Keys with this ring and key id in any project (to tell a project mismatch from a missing key). */
  async findKeysAnywhere(keyRingId: string, id: string): Promise<CryptoKey[]> {
    const rows = await this.#db
      .selectFrom('kms_keys')
      .selectAll()
      .where('key_ring_id', '=', keyRingId)
      .where('id', '=', id)
      .limit(10)
      .execute();
    return rows.map(toKey);
  }

  /** One key by slug. */
  async findKeyBySlug(location: KmsLocation, slug: string): Promise<CryptoKey | undefined> {
    const row = await this.#db
      .selectFrom('kms_keys')
      .selectAll()
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .where('slug', '=', slug)
      .executeTakeFirst();
    return row ? toKey(row) : undefined;
  }

  /** One key by internal uid. */
  async findKeyByUid(uid: string): Promise<CryptoKey | undefined> {
    const row = await this.#db.selectFrom('kms_keys').selectAll().where('uid', '=', uid).executeTakeFirst();
    return row ? toKey(row) : undefined;
  }

  /** Keys of a ring after `after`, by id. */
  async listKeys(
    location: KmsLocation,
    keyRingId: string,
    after: string | undefined,
    limit: number,
  ): Promise<CryptoKey[]> {
    let query = this.#db
      .selectFrom('kms_keys')
      .selectAll()
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .where('key_ring_id', '=', keyRingId)
      .orderBy('id')
      .limit(limit);
    if (after !== undefined) query = query.where('id', '>', after);
    return (await query.execute()).map(toKey);
  }

  /**
   * Keys due for background work at `nowMs`: automatic rotation (active keys past
   * next_rotation_time) or destruction (keys pending deletion past deletion_time).
   */
  async keysDue(job: 'rotation' | 'destruction', nowMs: number, limit: number): Promise<CryptoKey[]> {
    const [column, state] =
      job === 'rotation'
        ? (['next_rotation_time', 'active'] as const)
        : (['deletion_time', 'pending_deletion'] as const);
    const rows = await this.#db
      .selectFrom('kms_keys')
      .selectAll()
      .where(column, '<=', nowMs)
      .where('state', '=', state)
      .limit(limit)
      .execute();
    return rows.map(toKey);
  }

  /** Inserts a key. */
  insertKey(key: CryptoKey): WriteStatement {
    return stmt(
      this.#db.insertInto('kms_keys').values({
        uid: key.uid,
        project_id: key.projectId,
        region_id: key.regionId,
        key_ring_id: key.keyRingId,
        id: key.id,
        slug: key.slug,
        display_name: key.displayName,
        algorithm: key.algorithm,
        purpose: key.purpose,
        state: key.state,
        primary_version: key.primaryVersion,
        rotation_period_seconds: key.rotationPeriodSeconds,
        next_rotation_time: key.nextRotationTimeMs,
        deletion_time: key.deletionTimeMs,
        create_time: key.createTimeMs,
        update_time: key.updateTimeMs,
      }),
    );
  }

  /**
   * Changes a key if it is still in `expected` state and primary version (compare-and-set, so two
   * nodes racing on the same change apply it once). Expects one row.
   */
  updateKey(key: CryptoKey, changes: KeyChanges): WriteStatement {
    const set: Partial<KmsKeysTable> = {};
    if (changes.state !== undefined) set.state = changes.state;
    if (changes.primaryVersion !== undefined) set.primary_version = changes.primaryVersion;
    if (changes.deletionTimeMs !== undefined) set.deletion_time = changes.deletionTimeMs;
    if (changes.nextRotationTimeMs !== undefined) set.next_rotation_time = changes.nextRotationTimeMs;
    if (changes.rotationPeriodSeconds !== undefined)
      set.rotation_period_seconds = changes.rotationPeriodSeconds;
    if (changes.updateTimeMs !== undefined) set.update_time = changes.updateTimeMs;
    return stmt(
      this.#db
        .updateTable('kms_keys')
        .set(set)
        .where('uid', '=', key.uid)
        .where('state', '=', key.state)
        .where('primary_version', '=', key.primaryVersion)
        .where('update_time', '=', key.updateTimeMs),
      'one',
    );
  }

  /** Versions of a key, ascending. */
  async listVersions(keyUid: string, after: number | undefined, limit: number): Promise<KeyVersion[]> {
    let query = this.#db
      .selectFrom('kms_key_versions')
      .select(['key_uid', 'version', 'state', 'public_key_pem', 'create_time', 'destroy_time'])
      .select((eb) => eb.case().when('material', 'is not', null).then(1).else(0).end().as('has_material'))
      .where('key_uid', '=', keyUid)
      .orderBy('version')
      .limit(limit);
    if (after !== undefined) query = query.where('version', '>', after);
    return (await query.execute()).map(toVersion);
  }

  /** One version's metadata. */
  async findVersion(keyUid: string, version: number): Promise<KeyVersion | undefined> {
    const row = await this.#db
      .selectFrom('kms_key_versions')
      .select(['key_uid', 'version', 'state', 'public_key_pem', 'create_time', 'destroy_time'])
      .select((eb) => eb.case().when('material', 'is not', null).then(1).else(0).end().as('has_material'))
      .where('key_uid', '=', keyUid)
      .where('version', '=', version)
      .executeTakeFirst();
    return row ? toVersion(row) : undefined;
  }

  /** One version's sealed material (null once destroyed). */
  async findSealedMaterial(keyUid: string, version: number): Promise<Uint8Array | null | undefined> {
    const row = await this.#db
      .selectFrom('kms_key_versions')
      .select('material')
      .where('key_uid', '=', keyUid)
      .where('version', '=', version)
      .executeTakeFirst();
    return row ? row.material : undefined;
  }

  /** Inserts a version (primary key violation when the number is taken). */
  insertVersion(version: KeyVersion, sealedMaterial: Uint8Array): WriteStatement {
    return stmt(
      this.#db.insertInto('kms_key_versions').values({
        key_uid: version.keyUid,
        version: version.version,
        state: version.state,
        material: Buffer.from(sealedMaterial.buffer, sealedMaterial.byteOffset, sealedMaterial.byteLength),
        public_key_pem: version.publicKeyPem,
        create_time: version.createTimeMs,
        destroy_time: null,
      }),
    );
  }

  /** Sets a version's state if it is still `from` (expects one row). */
  setVersionState(keyUid: string, version: number, from: VersionState, to: VersionState): WriteStatement {
    return stmt(
      this.#db
        .updateTable('kms_key_versions')
        .set({ state: to })
        .where('key_uid', '=', keyUid)
        .where('version', '=', version)
        .where('state', '=', from),
      'one',
    );
  }

  /**
   * Crypto-shreds one version: erases its material (SQLite runs with secure_delete=ON). With `from`,
   * only if the version is still in that state (the background job: a restore may have come first).
   */
  destroyVersion(keyUid: string, version: number, nowMs: number, from?: VersionState): WriteStatement {
    return shredding(
      stmt(
        this.#shredVersions(keyUid, nowMs)
          .where('version', '=', version)
          .where('state', from === undefined ? '!=' : '=', from ?? 'destroyed'),
        'one',
      ),
    );
  }

  /** Schedules a version's destruction at `destroyTimeMs` if it is still `from`. */
  scheduleVersionDestruction(
    keyUid: string,
    version: number,
    from: VersionState,
    destroyTimeMs: number,
  ): WriteStatement {
    return stmt(
      this.#db
        .updateTable('kms_key_versions')
        .set({ state: 'destroy_scheduled', destroy_time: destroyTimeMs })
        .where('key_uid', '=', keyUid)
        .where('version', '=', version)
        .where('state', '=', from),
      'one',
    );
  }

  /** Cancels a scheduled destruction: the version becomes `disabled` (Google's RestoreCryptoKeyVersion). */
  restoreVersion(keyUid: string, version: number): WriteStatement {
    return stmt(
      this.#db
        .updateTable('kms_key_versions')
        .set({ state: 'disabled', destroy_time: null })
        .where('key_uid', '=', keyUid)
        .where('version', '=', version)
        .where('state', '=', 'destroy_scheduled'),
      'one',
    );
  }

  /** Versions whose scheduled destruction time has come. */
  async versionsDueForDestruction(
    nowMs: number,
    limit: number,
  ): Promise<{ keyUid: string; version: number }[]> {
    const rows = await this.#db
      .selectFrom('kms_key_versions')
      .select(['key_uid', 'version'])
      .where('state', '=', 'destroy_scheduled')
      .where('destroy_time', '<=', nowMs)
      .limit(limit)
      .execute();
    return rows.map((row) => ({ keyUid: row.key_uid, version: Number(row.version) }));
  }

  /** Crypto-shreds every version of a key. */
  destroyAllVersions(keyUid: string, nowMs: number): WriteStatement {
    return shredding(stmt(this.#shredVersions(keyUid, nowMs).where('state', '!=', 'destroyed')));
  }

  /** The update that destroys versions of a key: state `destroyed`, material erased, destroy time set. */
  #shredVersions(keyUid: string, nowMs: number) {
    return this.#db
      .updateTable('kms_key_versions')
      .set({ state: 'destroyed', material: null, destroy_time: nowMs })
      .where('key_uid', '=', keyUid);
  }
}
