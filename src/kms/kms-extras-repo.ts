import type { Kysely, Selectable } from 'kysely';
import type { Database, KmsAliasesTable } from '../storage/schema.ts';
import { stmt, type WriteStatement } from '../storage/storage-types.ts';
import type { KeyAttributes, KeyManager, KeyTag, KmsAlias } from './kms-extras-types.ts';
import type { KmsLocation } from './kms-types.ts';

function toAlias(row: Selectable<KmsAliasesTable>): KmsAlias {
  return {
    projectId: row.project_id,
    regionId: row.region_id,
    name: row.name,
    keyUid: row.key_uid,
    createTimeMs: Number(row.create_time),
    updateTimeMs: Number(row.update_time),
  };
}

/** Named queries of key aliases, tags and attributes (issue #18). */
export class KmsExtrasRepo {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** One alias by name. */
  async findAlias(location: KmsLocation, name: string): Promise<KmsAlias | undefined> {
    const row = await this.#db
      .selectFrom('kms_aliases')
      .selectAll()
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? toAlias(row) : undefined;
  }

  /** Aliases of a location (of one key when `keyUid` is given) after `after`, by name. */
  async listAliases(
    location: KmsLocation,
    keyUid: string | undefined,
    after: string | undefined,
    limit: number,
  ): Promise<KmsAlias[]> {
    let query = this.#db
      .selectFrom('kms_aliases')
      .selectAll()
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .orderBy('name')
      .limit(limit);
    if (keyUid !== undefined) query = query.where('key_uid', '=', keyUid);
    if (after !== undefined) query = query.where('name', '>', after);
    return (await query.execute()).map(toAlias);
  }

  /** Inserts an alias (unique violation when the name is taken). */
  insertAlias(alias: KmsAlias): WriteStatement {
    return stmt(
      this.#db.insertInto('kms_aliases').values({
        project_id: alias.projectId,
        region_id: alias.regionId,
        name: alias.name,
        key_uid: alias.keyUid,
        create_time: alias.createTimeMs,
        update_time: alias.updateTimeMs,
      }),
    );
  }

  /** Points an alias at another key if it still names `fromKeyUid` (expects one row). */
  retargetAlias(alias: KmsAlias, keyUid: string, nowMs: number): WriteStatement {
    return stmt(
      this.#db
        .updateTable('kms_aliases')
        .set({ key_uid: keyUid, update_time: nowMs })
        .where('project_id', '=', alias.projectId)
        .where('region_id', '=', alias.regionId)
        .where('name', '=', alias.name)
        .where('key_uid', '=', alias.keyUid),
      'one',
    );
  }

  /** Deletes an alias (expects one row). */
  deleteAlias(alias: KmsAlias): WriteStatement {
    return stmt(
      this.#db
        .deleteFrom('kms_aliases')
        .where('project_id', '=', alias.projectId)
        .where('region_id', '=', alias.regionId)
        .where('name', '=', alias.name),
      'one',
    );
  }

  /** Uids of the keys with this id in a location, any key ring, live ones (not destroyed) first by ring. */
  async keyUidsById(location: KmsLocation, id: string): Promise<{ uid: string; keyRingId: string }[]> {
    const rows = await this.#db
      .selectFrom('kms_keys')
      .select(['uid', 'key_ring_id'])
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .where('id', '=', id)
      .where('state', '!=', 'destroyed')
      .orderBy('key_ring_id')
      .limit(10)
      .execute();
    return rows.map((row) => ({ uid: row.uid, keyRingId: row.key_ring_id }));
  }

  /** Live keys of a location, any key ring, after `after` (by uid). */
  async liveKeyUids(location: KmsLocation, after: string | undefined, limit: number): Promise<string[]> {
    let query = this.#db
      .selectFrom('kms_keys')
      .select('uid')
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .where('state', '!=', 'destroyed')
      .orderBy('uid')
      .limit(limit);
    if (after !== undefined) query = query.where('uid', '>', after);
    return (await query.execute()).map((row) => row.uid);
  }

  /** A key's attributes, if any were written. */
  async findAttributes(keyUid: string): Promise<KeyAttributes | undefined> {
    const row = await this.#db
      .selectFrom('kms_key_attributes')
      .selectAll()
      .where('key_uid', '=', keyUid)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      keyUid: row.key_uid,
      description: row.description,
      policy: row.policy,
      keyManager: row.key_manager as KeyManager,
    };
  }

  /** The attributes of many keys at once (ListKeys, ListAliases). */
  async findAttributesOf(keyUids: readonly string[]): Promise<Map<string, KeyAttributes>> {
    if (keyUids.length === 0) return new Map();
    const rows = await this.#db
      .selectFrom('kms_key_attributes')
      .selectAll()
      .where('key_uid', 'in', keyUids)
      .execute();
    return new Map(
      rows.map((row) => [
        row.key_uid,
        {
          keyUid: row.key_uid,
          description: row.description,
          policy: row.policy,
          keyManager: row.key_manager as KeyManager,
        },
      ]),
    );
  }

  /** Writes a key's attributes (insert or replace). */
  upsertAttributes(attributes: KeyAttributes, nowMs: number): WriteStatement {
    const values = {
      key_uid: attributes.keyUid,
      description: attributes.description,
      policy: attributes.policy,
      key_manager: attributes.keyManager,
      update_time: nowMs,
    };
    return stmt(
      this.#db
        .insertInto('kms_key_attributes')
        .values(values)
        .onConflict((oc) =>
          oc.column('key_uid').doUpdateSet({
            description: values.description,
            policy: values.policy,
            key_manager: values.key_manager,
            update_time: nowMs,
          }),
        ),
    );
  }

  /** A key's tags, by tag key. */
  async listTags(keyUid: string): Promise<KeyTag[]> {
    const rows = await this.#db
      .selectFrom('kms_key_tags')
      .select(['tag_key', 'tag_value'])
      .where('key_uid', '=', keyUid)
      .orderBy('tag_key')
      .execute();
    return rows.map((row) => ({ key: row.tag_key, value: row.tag_value }));
  }

  /** Sets one tag (insert or replace its value). */
  putTag(keyUid: string, tag: KeyTag): WriteStatement {
    return stmt(
      this.#db
        .insertInto('kms_key_tags')
        .values({ key_uid: keyUid, tag_key: tag.key, tag_value: tag.value })
        .onConflict((oc) => oc.columns(['key_uid', 'tag_key']).doUpdateSet({ tag_value: tag.value })),
    );
  }

  /** Removes tags by key (absent keys are ignored, as AWS does). */
  deleteTags(keyUid: string, tagKeys: readonly string[]): WriteStatement {
    return stmt(
      this.#db.deleteFrom('kms_key_tags').where('key_uid', '=', keyUid).where('tag_key', 'in', tagKeys),
    );
  }
}
