import type { Kysely, Selectable } from 'kysely';
import type { Database, SmInstancesTable } from '../storage/schema.ts';
import { stmt, type WriteStatement } from '../storage/storage-types.ts';
import type { Instance, InstanceKmsKey, SecretsLocation } from './secret-types.ts';

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

/** Named queries of Secrets Manager instances (sm_instances). */
export class InstanceRepo {
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
  instanceHasSecrets(instance: Instance): Promise<boolean> {
    return this.#instanceHoldsRows('sm_secrets', instance);
  }

  /** Whether an instance holds a database connection of dynamic credentials (issue 15 §2). */
  instanceHasDatabases(instance: Instance): Promise<boolean> {
    return this.#instanceHoldsRows('db_connections', instance);
  }

  async #instanceHoldsRows(table: 'sm_secrets' | 'db_connections', instance: Instance): Promise<boolean> {
    const row = await this.#db
      .selectFrom(table)
      .select('uid')
      .where('project_id', '=', instance.projectId)
      .where('region_id', '=', instance.regionId)
      .where('instance_id', '=', instance.id)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }
}
