import { type Kysely, type Selectable, SqliteAdapter, sql } from 'kysely';
import type { Database, SmSecretsTable } from '../storage/schema.ts';
import { shredding, statementTemplate, stmt, type WriteStatement } from '../storage/storage-types.ts';
import { canPrefixPath } from './secret-fns.ts';
import type { Instance, Secret, SecretTag } from './secret-types.ts';

const num = (v: number | null) => (v === null ? null : Number(v));

/** A label condition of a secrets listing: the label is set (`value` undefined) or has exactly `value`. */
export interface LabelFilter {
  readonly key: string;
  readonly value?: string;
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
    rotator: row.rotator ?? null,
    description: row.description ?? null,
    // null: never tagged (AWS leaves Tags out); '[]': tagged once, every tag since removed.
    ...(row.tags !== null ? { tags: JSON.parse(row.tags) as SecretTag[] } : {}),
    arnSuffix: row.arn_suffix ?? null,
    resourcePolicy: row.resource_policy ?? null,
    deletedTimeMs: num(row.deleted_time ?? null),
  };
}

/** The 0017 attribute columns of a secret, as stored. */
function attributeColumns(secret: Secret) {
  return {
    description: secret.description ?? null,
    tags: secret.tags === undefined ? null : JSON.stringify(secret.tags),
    resource_policy: secret.resourcePolicy ?? null,
    deleted_time: secret.deletedTimeMs ?? null,
  };
}

/** Named queries of Secrets Manager secrets (sm_secrets), and a secret's purge. */
export class SecretsRepo {
  readonly #db: Kysely<Database>;
  // putSecretValue's claim, compiled once (a Kysely build per put cost ≈10 µs).
  readonly #claim: (values: {
    uid: string;
    version: number;
    next: number;
    etag: string;
    now: number;
  }) => WriteStatement;

  constructor(db: Kysely<Database>) {
    this.#db = db;
    this.#claim = statementTemplate(
      ['uid', 'version', 'next', 'etag', 'now'],
      (p) =>
        db
          .updateTable('sm_secrets')
          .set({ next_version: p.next, etag: p.etag, update_time: p.now })
          .where('uid', '=', p.uid)
          .where('next_version', '=', p.version)
          .where('delete_time', 'is', null),
      'one',
    );
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

  /**
   * Secrets of an instance in path order (byte order on both engines), after `after`, optionally
   * under a prefix and with labels. Built for 100,000-secret instances (migration 0019): a prefix is
   * an index range (secret paths are ASCII below DEL, so `prefix + DEL` bounds it exactly); on
   * SQLite a label filter first finds the page's paths in a covering index without reading rows,
   * on PostgreSQL a GIN index of the labels answers it.
   */
  async listSecrets(
    instance: Instance,
    prefix: string | undefined,
    after: string | undefined,
    limit: number,
    labels: readonly LabelFilter[] = [],
  ): Promise<Secret[]> {
    if (prefix !== undefined && !canPrefixPath(prefix)) return [];
    if (!(this.#db.getExecutor().adapter instanceof SqliteAdapter))
      return this.#listPostgres(instance, prefix, after, limit, labels);
    // `labels` holds JSON.stringify of a flat string map: `"key":"value"` (or `"key":` for any
    // value) occurs in that text only as that entry, since quotes inside keys and values are
    // escaped. replace() is case-sensitive (SQLite's LIKE is not).
    const needles = labels.map(
      (label) =>
        JSON.stringify(label.key) + ':' + (label.value === undefined ? '' : JSON.stringify(label.value)),
    );
    let q = this.#instanceRows(instance).orderBy('path').limit(limit);
    if (needles.length > 0) {
      const paths = await this.#pathsWithLabels(instance, prefix, after, limit, needles);
      if (paths.length === 0) return [];
      return (await q.where('path', 'in', paths).execute()).map(toSecret);
    }
    if (after !== undefined) q = q.where('path', '>', after);
    if (prefix)
      q = q
        .where('path', '>=', prefix)
        .where('path', '<', `${prefix}\u007f`)
        .where((eb) => eb(eb.fn('substr', ['path', eb.val(1), eb.val(prefix.length)]), '=', prefix));
    return (await q.execute()).map(toSecret);
  }

  #instanceRows(instance: Instance) {
    return this.#db
      .selectFrom('sm_secrets')
      .selectAll()
      .where('project_id', '=', instance.projectId)
      .where('region_id', '=', instance.regionId)
      .where('instance_id', '=', instance.id);
  }

  /**
   * PostgreSQL: paths compared and ordered as bytes (COLLATE "C", the index `sm_secrets_list`), so
   * a prefix is a range whatever the database's collation; labels by JSON containment (`@>`) or key
   * presence (`?`), both answered by the GIN index `sm_secrets_labels`.
   */
  async #listPostgres(
    instance: Instance,
    prefix: string | undefined,
    after: string | undefined,
    limit: number,
    labels: readonly LabelFilter[],
  ): Promise<Secret[]> {
    const path = sql<string>`path COLLATE "C"`;
    let q = this.#instanceRows(instance).orderBy(path).limit(limit);
    if (after !== undefined) q = q.where(path, '>', after);
    if (prefix)
      q = q
        .where(path, '>=', prefix)
        .where(path, '<', `${prefix}\u007f`)
        .where((eb) => eb(eb.fn('substr', ['path', eb.val(1), eb.val(prefix.length)]), '=', prefix));
    for (const label of labels)
      q = q.where(
        label.value === undefined
          ? sql<boolean>`labels::jsonb ? ${label.key}`
          : sql<boolean>`labels::jsonb @> ${JSON.stringify({ [label.key]: label.value })}::jsonb`,
      );
    return (await q.execute()).map(toSecret);
  }

  /** SQLite: the paths of a label-filtered page, from the covering index alone. */
  async #pathsWithLabels(
    instance: Instance,
    prefix: string | undefined,
    after: string | undefined,
    limit: number,
    needles: readonly string[],
  ): Promise<string[]> {
    const conditions = [
      sql`project_id = ${instance.projectId}`,
      sql`region_id = ${instance.regionId}`,
      sql`instance_id = ${instance.id}`,
      ...(after !== undefined ? [sql`path > ${after}`] : []),
      ...(prefix
        ? [
            sql`path >= ${prefix}`,
            sql`path < ${`${prefix}\u007f`}`,
            sql`substr(path, 1, ${prefix.length}) = ${prefix}`,
          ]
        : []),
      ...needles.map((needle) => sql`replace(labels, ${needle}, '') <> labels`),
    ];
    const rows = await sql<{ path: string }>`SELECT path FROM sm_secrets INDEXED BY sm_secrets_list
      WHERE ${sql.join(conditions, sql` AND `)} ORDER BY path LIMIT ${limit}`.execute(this.#db);
    return rows.rows.map((row) => row.path);
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

  /**
   * Secrets whose expiry, deletion or rotation time has come (rotation: only those without a rotator,
   * whose schedule merely records `rotation_due`; the rotation engine runs the others).
   */
  async secretsDue(
    column: 'expire_time' | 'delete_time' | 'next_rotation_time',
    nowMs: number,
    limit: number,
  ): Promise<Secret[]> {
    let q = this.#db.selectFrom('sm_secrets').selectAll().where(column, '<=', nowMs);
    if (column === 'next_rotation_time') q = q.where('rotator', 'is', null);
    return (await q.limit(limit).execute()).map(toSecret);
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
        rotator: secret.rotator ?? null,
        arn_suffix: secret.arnSuffix ?? null,
        ...attributeColumns(secret),
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
          rotator: secret.rotator ?? null,
          ...attributeColumns(secret),
        })
        .where('uid', '=', secret.uid)
        .where('etag', '=', expectedEtag),
      'one',
    );
  }

  /** Claims version number `version` (compare-and-set on next_version), so concurrent puts never share one. */
  claimVersion(secretUid: string, version: number, etag: string, nowMs: number): WriteStatement {
    return this.#claim({ uid: secretUid, version, next: version + 1, etag, now: nowMs });
  }

  /** Deletes a secret and everything of it (crypto-shredding its versions). */
  purgeSecret(secretUid: string): WriteStatement[] {
    return [
      shredding(stmt(this.#db.deleteFrom('sm_versions').where('secret_uid', '=', secretUid))),
      stmt(this.#db.deleteFrom('sm_stages').where('secret_uid', '=', secretUid)),
      stmt(this.#db.deleteFrom('sm_idempotency').where('secret_uid', '=', secretUid)),
      stmt(this.#db.deleteFrom('sm_rotations').where('secret_uid', '=', secretUid)),
      stmt(this.#db.deleteFrom('sm_secrets').where('uid', '=', secretUid), 'one'),
    ];
  }
}
