import type { Kysely } from 'kysely';
import type { ProjectId } from '../core/ids.ts';
import type { Database, ProjectsTable } from '../storage/schema.ts';
import { stmt, type WriteStatement } from '../storage/storage-types.ts';
import type { Project } from './project-types.ts';

function toProject(row: ProjectsTable): Project {
  return {
    id: row.id as ProjectId,
    displayName: row.display_name,
    awsAccountId: row.aws_account_id ?? '',
    features: { secrets: row.feature_secrets === 1, kms: row.feature_kms === 1 },
    etag: row.etag,
    createTimeMs: Number(row.create_time),
    updateTimeMs: Number(row.update_time),
  };
}

/** Named queries on the projects table. */
export class ProjectRepo {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** One project, or undefined. */
  async find(id: string): Promise<Project | undefined> {
    const row = await this.#db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toProject(row) : undefined;
  }

  /** The project whose AWS account id is `accountId`, or undefined. */
  async findByAwsAccountId(accountId: string): Promise<Project | undefined> {
    const row = await this.#db
      .selectFrom('projects')
      .selectAll()
      .where('aws_account_id', '=', accountId)
      .executeTakeFirst();
    return row ? toProject(row) : undefined;
  }

  /** Up to `limit` projects with id greater than `after`, by id. */
  async list(after: string | undefined, limit: number): Promise<Project[]> {
    let query = this.#db.selectFrom('projects').selectAll().orderBy('id').limit(limit);
    if (after !== undefined) query = query.where('id', '>', after);
    return (await query.execute()).map(toProject);
  }

  /** Inserts a project (unique violation when the id is taken). */
  insert(project: Project): WriteStatement {
    return stmt(
      this.#db.insertInto('projects').values({
        id: project.id,
        display_name: project.displayName,
        aws_account_id: project.awsAccountId,
        feature_secrets: project.features.secrets ? 1 : 0,
        feature_kms: project.features.kms ? 1 : 0,
        etag: project.etag,
        create_time: project.createTimeMs,
        update_time: project.updateTimeMs,
      }),
    );
  }

  /** Replaces a project's mutable fields if its etag is still `expectedEtag` (expects one row). */
  update(project: Project, expectedEtag: string): WriteStatement {
    return stmt(
      this.#db
        .updateTable('projects')
        .set({
          display_name: project.displayName,
          feature_secrets: project.features.secrets ? 1 : 0,
          feature_kms: project.features.kms ? 1 : 0,
          etag: project.etag,
          update_time: project.updateTimeMs,
        })
        .where('id', '=', project.id)
        .where('etag', '=', expectedEtag),
      'one',
    );
  }
}
