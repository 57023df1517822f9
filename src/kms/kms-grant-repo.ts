import type { Kysely, Selectable } from 'kysely';
import type { Principal } from '../iam/principal.ts';
import type { Database, KmsGrantsTable } from '../storage/schema.ts';
import { stmt, type WriteStatement } from '../storage/storage-types.ts';
import type { GrantConstraints, GrantOperation, KmsGrant } from './kms-extras-types.ts';
import type { KmsLocation } from './kms-types.ts';

function toGrant(row: Selectable<KmsGrantsTable>): KmsGrant {
  return {
    id: row.id,
    projectId: row.project_id,
    regionId: row.region_id,
    keyUid: row.key_uid,
    name: row.name,
    granteePrincipal: row.grantee_principal,
    grantee: row.grantee as Principal,
    retiringPrincipal: row.retiring_principal,
    retiring: row.retiring as Principal | null,
    operations: JSON.parse(row.operations) as GrantOperation[],
    constraints: row.constraints === null ? null : (JSON.parse(row.constraints) as GrantConstraints),
    issuingPrincipal: row.issuing_principal as Principal,
    createTimeMs: Number(row.create_time),
  };
}

/** Named queries of KMS grants (issue #18). */
export class KmsGrantRepo {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** One grant by id. */
  async find(id: string): Promise<KmsGrant | undefined> {
    const row = await this.#db.selectFrom('kms_grants').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toGrant(row) : undefined;
  }

  /** Grants of a key (to one grantee when given) after `after`, by id. */
  async listOfKey(
    keyUid: string,
    filter: { grantId?: string; grantee?: Principal },
    after: string | undefined,
    limit: number,
  ): Promise<KmsGrant[]> {
    let query = this.#db
      .selectFrom('kms_grants')
      .selectAll()
      .where('key_uid', '=', keyUid)
      .orderBy('id')
      .limit(limit);
    if (filter.grantId !== undefined) query = query.where('id', '=', filter.grantId);
    if (filter.grantee !== undefined) query = query.where('grantee', '=', filter.grantee);
    if (after !== undefined) query = query.where('id', '>', after);
    return (await query.execute()).map(toGrant);
  }

  /** Grants a principal may retire in a location, after `after`, by id. */
  async listRetirable(
    location: KmsLocation,
    retiring: Principal,
    after: string | undefined,
    limit: number,
  ): Promise<KmsGrant[]> {
    let query = this.#db
      .selectFrom('kms_grants')
      .selectAll()
      .where('project_id', '=', location.projectId)
      .where('region_id', '=', location.regionId)
      .where('retiring', '=', retiring)
      .orderBy('id')
      .limit(limit);
    if (after !== undefined) query = query.where('id', '>', after);
    return (await query.execute()).map(toGrant);
  }

  /** Grants of a key held by one grantee (what an authorization check reads). */
  async ofGrantee(keyUid: string, grantee: Principal): Promise<KmsGrant[]> {
    const rows = await this.#db
      .selectFrom('kms_grants')
      .selectAll()
      .where('key_uid', '=', keyUid)
      .where('grantee', '=', grantee)
      .limit(1000)
      .execute();
    return rows.map(toGrant);
  }

  /** Grants of a key with this name (CreateGrant's idempotency). */
  async ofName(keyUid: string, name: string): Promise<KmsGrant[]> {
    const rows = await this.#db
      .selectFrom('kms_grants')
      .selectAll()
      .where('key_uid', '=', keyUid)
      .where('name', '=', name)
      .execute();
    return rows.map(toGrant);
  }

  /** Inserts a grant. */
  insert(grant: KmsGrant): WriteStatement {
    return stmt(
      this.#db.insertInto('kms_grants').values({
        id: grant.id,
        project_id: grant.projectId,
        region_id: grant.regionId,
        key_uid: grant.keyUid,
        name: grant.name,
        grantee_principal: grant.granteePrincipal,
        grantee: grant.grantee,
        retiring_principal: grant.retiringPrincipal,
        retiring: grant.retiring,
        operations: JSON.stringify(grant.operations),
        constraints: grant.constraints === null ? null : JSON.stringify(grant.constraints),
        issuing_principal: grant.issuingPrincipal,
        create_time: grant.createTimeMs,
      }),
    );
  }

  /** Deletes a grant (expects one row: a concurrent retire or revoke deleted it first otherwise). */
  delete(id: string): WriteStatement {
    return stmt(this.#db.deleteFrom('kms_grants').where('id', '=', id), 'one');
  }
}
