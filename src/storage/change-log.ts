import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';
import { statementTemplate, stmt, type WriteStatement } from './storage-types.ts';

/** One change, as recorded (docs/changes.md lists the types). Never carries a value. */
export interface ChangeRecord {
  /** What happened, e.g. `version.added`. */
  readonly type: string;
  /** Full resource name (a secret path URL-encoded as one segment). */
  readonly resource: string;
  /** The project it belongs to; undefined for changes outside projects (root policy, users). */
  readonly projectId?: string | undefined;
  /** Who made it (`service:…` for background jobs). */
  readonly principal: string;
  /** When, in ms since the epoch. */
  readonly timeMs: number;
  /** The secret version or key version concerned. */
  readonly version?: number | undefined;
  /** The stage concerned (`stage.moved`). */
  readonly stage?: string | undefined;
  /**
   * Who could see the resource before a change that removes access (they are shown the change
   * too): principals, or the resource whose policy to copy, read in the same unit — put the
   * statement before the one that deletes that policy.
   */
  readonly audience?: { readonly members: readonly string[] } | { readonly policyOf: string } | undefined;
}

/** A sequenced change, as read back by cursor. */
export interface ChangeRow {
  readonly cursor: number;
  readonly timeMs: number;
  readonly type: string;
  readonly resource: string;
  readonly projectId: string | null;
  readonly principal: string;
  readonly version: number | null;
  readonly stage: string | null;
  /** The audience snapshot (principals), for a change that removes access; null otherwise. */
  readonly audience: readonly string[] | null;
}

/** Insert statements made here, so a storage wrapper can tell a unit that recorded a change. */
const recorded = new WeakMap<WriteStatement, string>();

/**
 * The statement that records `change`; add it to the unit that makes the change (never a write of
 * its own after it). The row gets no cursor here: the sequencer gives it one once it is committed.
 */
export function changeStatement(db: Kysely<Database>, change: ChangeRecord): WriteStatement {
  const audience = change.audience;
  const values = {
    time: change.timeMs,
    kind: change.type,
    resource: change.resource,
    projectId: change.projectId ?? null,
    principal: change.principal,
    version: change.version ?? null,
    stage: change.stage ?? null,
    audience:
      audience === undefined
        ? null
        : 'members' in audience
          ? JSON.stringify([{ members: audience.members }])
          : audience.policyOf,
  };
  const templates = changeTemplatesOf(db);
  const statement =
    audience !== undefined && !('members' in audience) ? templates.policyOf(values) : templates.plain(values);
  recorded.set(statement, change.resource);
  return statement;
}

const changeColumns = [
  'time',
  'kind',
  'resource',
  'projectId',
  'principal',
  'version',
  'stage',
  'audience',
] as const;
type ChangeTemplate = (values: Readonly<Record<(typeof changeColumns)[number], unknown>>) => WriteStatement;

/**
 * The change-log insert, compiled once per query builder (every unit that changes something adds
 * one): `plain` binds the audience as a value, `policyOf` binds the resource whose policy's bindings
 * are copied in the same unit.
 */
const changeTemplates = new WeakMap<Kysely<Database>, { plain: ChangeTemplate; policyOf: ChangeTemplate }>();

function changeTemplatesOf(db: Kysely<Database>): { plain: ChangeTemplate; policyOf: ChangeTemplate } {
  let templates = changeTemplates.get(db);
  if (templates === undefined) {
    const insert = (p: Record<(typeof changeColumns)[number], never>, audience: unknown) =>
      db.insertInto('change_log').values({
        time: p.time,
        kind: p.kind,
        resource: p.resource,
        project_id: p.projectId,
        principal: p.principal,
        version: p.version,
        stage: p.stage,
        audience: audience as never,
      });
    templates = {
      plain: statementTemplate(changeColumns, (p) => insert(p, p.audience)),
      policyOf: statementTemplate(changeColumns, (p) =>
        insert(p, sql<string | null>`(SELECT bindings FROM iam_policies WHERE resource = ${p.audience})`),
      ),
    };
    changeTemplates.set(db, templates);
  }
  return templates;
}

/** The principals of a stored audience (the members of its bindings); null when there is none. */
function parseAudience(stored: string | null): readonly string[] | null {
  if (stored === null) return null;
  try {
    const bindings = JSON.parse(stored) as unknown;
    if (!Array.isArray(bindings)) return null;
    return bindings.flatMap((b: { members?: unknown }) =>
      Array.isArray(b?.members) ? b.members.filter((m): m is string => typeof m === 'string') : [],
    );
  } catch {
    return null;
  }
}

/** True when the unit records a change (built by `changeStatement`). */
export function recordsChange(statements: readonly WriteStatement[]): boolean {
  return statements.some((s) => recorded.has(s));
}

/** The statements of the unit that record a change, each with the resource it names. */
export function resourcesOfChanges(statements: readonly WriteStatement[]): Map<WriteStatement, string> {
  const found = new Map<WriteStatement, string>();
  for (const s of statements) {
    const resource = recorded.get(s);
    if (resource !== undefined) found.set(s, resource);
  }
  return found;
}

/** Rows the sequencer numbers per unit: bounded, so one unit stays short. */
export const sequenceBatch = 1000;

/**
 * The sequencer's unit (one transaction): lock the counter row, give the oldest committed rows
 * without a cursor the next cursors in insertion order, advance the counter. Serialized across
 * nodes by the counter's row lock; under READ COMMITTED each statement sees every row committed
 * before it started, so a row that commits late gets a later cursor, never one below a cursor a
 * reader was already given. The same SQL on both engines, no parameters.
 */
export const sequenceStatements: readonly WriteStatement[] = [
  { sql: 'UPDATE change_feed_counter SET value = value WHERE id = 1', parameters: [], expect: 'one' },
  {
    sql:
      'WITH batch AS MATERIALIZED (SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM change_log ' +
      `WHERE cursor IS NULL ORDER BY seq LIMIT ${sequenceBatch}) ` +
      'UPDATE change_log SET cursor = (SELECT value FROM change_feed_counter WHERE id = 1) + batch.n ' +
      'FROM batch WHERE change_log.seq = batch.seq',
    parameters: [],
  },
  {
    sql:
      'UPDATE change_feed_counter SET value = COALESCE((SELECT max(cursor) FROM change_log ' +
      'WHERE cursor > change_feed_counter.value), value) WHERE id = 1',
    parameters: [],
  },
];

/** True when some committed change has no cursor yet (a cheap indexed read before the sequencer's write). */
export async function hasUnsequenced(db: Kysely<Database>): Promise<boolean> {
  const row = await db
    .selectFrom('change_log')
    .select('seq')
    .where('cursor', 'is', null)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** The newest cursor handed out (`head`) and the newest one pruned (`prunedThrough`). */
export async function feedBounds(db: Kysely<Database>): Promise<{ head: number; prunedThrough: number }> {
  const row = await db
    .selectFrom('change_feed_counter')
    .select(['value', 'pruned_through'])
    .where('id', '=', 1)
    .executeTakeFirst();
  return { head: Number(row?.value ?? 0), prunedThrough: Number(row?.pruned_through ?? 0) };
}

/**
 * Sequenced changes after `after` (and at most `through`, when given), in cursor order; of one
 * project when `projectId` is given.
 */
export async function readChanges(
  db: Kysely<Database>,
  after: number,
  limit: number,
  projectId?: string,
  through?: number,
): Promise<ChangeRow[]> {
  let q = db
    .selectFrom('change_log')
    .select(['cursor', 'time', 'kind', 'resource', 'project_id', 'principal', 'version', 'stage', 'audience'])
    .where('cursor', '>', after);
  if (through !== undefined) q = q.where('cursor', '<=', through);
  if (projectId !== undefined) q = q.where('project_id', '=', projectId);
  const rows = await q.orderBy('cursor').limit(limit).execute();
  return rows.map((r) => ({
    cursor: Number(r.cursor),
    timeMs: Number(r.time),
    type: r.kind,
    resource: r.resource,
    projectId: r.project_id,
    principal: r.principal,
    version: r.version === null ? null : Number(r.version),
    stage: r.stage,
    audience: parseAudience(r.audience),
  }));
}

/** The time of the oldest retained change (by cursor), undefined when none: retention's cheap check. */
export async function oldestChangeTime(db: Kysely<Database>): Promise<number | undefined> {
  const row = await db
    .selectFrom('change_log')
    .select('time')
    .where('cursor', 'is not', null)
    .orderBy('cursor')
    .limit(1)
    .executeTakeFirst();
  return row === undefined ? undefined : Number(row.time);
}

/**
 * Retention: raises `pruned_through` to the newest sequenced change older than `cutoffMs`, then
 * deletes every row at or below it, so what is retained is always a suffix of the feed and a cursor
 * below `pruned_through` is known to have missed changes (410 gone).
 */
export function pruneStatements(db: Kysely<Database>, cutoffMs: number): WriteStatement[] {
  return [
    stmt(
      db
        .updateTable('change_feed_counter')
        .set({
          pruned_through: sql<number>`COALESCE((SELECT max(cursor) FROM change_log WHERE cursor > change_feed_counter.pruned_through AND time < ${cutoffMs}), pruned_through)`,
        })
        .where('id', '=', 1),
      'one',
    ),
    {
      sql: 'DELETE FROM change_log WHERE cursor <= (SELECT pruned_through FROM change_feed_counter WHERE id = 1)',
      parameters: [],
    },
  ];
}
