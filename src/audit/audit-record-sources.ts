import type { ExpressionBuilder, Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { ChainedEventRow } from './audit-chain.ts';

/**
 * Where an audit query finds records (audit-query.ts): a stream of records newest first (time, then
 * id), fetched a batch at a time by keyset.
 */
export interface RecordSource {
  /** The next records (at most `limit`), newest first. */
  next(limit: number): Promise<ChainedEventRow[]>;
  /** True once the source has returned every record it has. */
  readonly done: boolean;
  /** The time of the last record returned (`Infinity` before the first batch). */
  readonly lastTimeMs: number;
  /**
   * With `lastTimeMs`, where the records not yet returned begin: they come after (time, this id)
   * in record order. `\uffff` when the source cannot tell records of that same time apart.
   */
  readonly lastRecordId: string;
}

/** The time bounds of a query: since, until (exclusive), and at or before the page cursor's record. */
interface TimeWindow {
  readonly sinceMs?: number;
  readonly untilMs?: number;
  readonly atOrBefore?: { readonly time: number; readonly id: string };
}

/** A resource filter: an exact name and half-open ranges of names under it. */
export interface ResourceRanges {
  readonly exact?: string;
  readonly under: readonly (readonly [string, string])[];
}

type Ranges = ResourceRanges;

/** The key a query's sources are indexed by. */
export type RecordKey =
  | { readonly kind: 'resource'; readonly ranges: ResourceRanges }
  | { readonly kind: 'principal' | 'action'; readonly value: string }
  | { readonly kind: 'project' };

/**
 * Filters on a record's own (first) event: a record with companions passes a filter whose value its
 * companions' text holds.
 */
interface FirstEventFilters {
  readonly action?: string;
  readonly principal?: string;
  readonly ranges?: Ranges;
  readonly result?: string;
}

type EventsBuilder = ExpressionBuilder<Database, 'audit_events'>;

function resourceIn(eb: EventsBuilder, ranges: Ranges) {
  return eb.or([
    ...(ranges.exact !== undefined ? [eb('resource', '=', ranges.exact)] : []),
    ...ranges.under.map(([from, to]) => eb.and([eb('resource', '>=', from), eb('resource', '<', to)])),
  ]);
}

/** Keyset state shared by both kinds of source. */
class Keyset {
  /** Where the next batch starts: after (time, id), or at it when `inclusive`. */
  after: { time: number; id: string; inclusive?: boolean } | undefined;
  done = false;
  lastTimeMs = Infinity;
  lastRecordId = '\uffff';

  /** Records the last of a batch of `count` fetched with `limit`. */
  advance(last: { time: number; id: string } | undefined, count: number, limit: number): void {
    if (last) {
      this.after = last;
      this.lastTimeMs = last.time;
      this.lastRecordId = last.id;
    }
    if (count < limit) this.done = true;
  }
}

/**
 * Records by their own columns: the request index (`requestId`, every project), or the project's
 * index of `key` (time, action, principal, resource). `firstEvent` filters narrow the records in SQL
 * (a record with companions passes one whose value its companions' text holds); the caller matches
 * every event of the records returned.
 */
export function recordsByColumns(
  db: Kysely<Database>,
  options: TimeWindow & {
    readonly requestId?: string;
    readonly projectId?: string | null;
    readonly key?: RecordKey;
    readonly firstEvent?: FirstEventFilters;
  },
): RecordSource {
  const keyset = new Keyset();
  // The cursor's own record is read again (events of it may follow the cursor's): ids ≤ its id.
  if (options.atOrBefore)
    keyset.after = { time: options.atOrBefore.time, id: options.atOrBefore.id, inclusive: true };
  const next = async (limit: number): Promise<ChainedEventRow[]> => {
    let q = db.selectFrom('audit_events');
    if (options.requestId !== undefined) q = q.where('request_id', '=', options.requestId);
    else if (options.projectId === null) q = q.where('project_id', 'is', null);
    else if (options.projectId !== undefined) q = q.where('project_id', '=', options.projectId);
    const key = options.key;
    if (key?.kind === 'action') q = q.where('action', '=', key.value);
    if (key?.kind === 'principal') q = q.where('principal', '=', key.value);
    if (key?.kind === 'resource') q = q.where((eb) => resourceIn(eb, key.ranges));
    // Each filter holds for the record's own event, or its companions' text holds the value (JSON, as
    // stored; a LIKE pattern only ever matches more: the caller matches every event exactly).
    const first = options.firstEvent;
    const either = (
      eb: EventsBuilder,
      column: 'action' | 'principal' | 'result',
      value: string | undefined,
    ) =>
      value === undefined
        ? []
        : [eb.or([eb(column, '=', value), eb('companions', 'like', `%${JSON.stringify(value)}%`)])];
    if (first && Object.keys(first).length > 0) {
      q = q.where((eb) =>
        eb.and([
          ...either(eb, 'action', first.action),
          ...either(eb, 'principal', first.principal),
          ...either(eb, 'result', first.result),
          ...(first.ranges !== undefined
            ? [eb.or([resourceIn(eb, first.ranges), eb('companions', 'is not', null)])]
            : []),
        ]),
      );
    }
    if (options.sinceMs !== undefined) q = q.where('time', '>=', options.sinceMs);
    if (options.untilMs !== undefined) q = q.where('time', '<', options.untilMs);
    const after = keyset.after;
    if (after)
      q = q.where((eb) =>
        eb.or([
          eb('time', '<', after.time),
          eb.and([eb('time', '=', after.time), eb('id', after.inclusive ? '<=' : '<', after.id)]),
        ]),
      );
    let rows: ChainedEventRow[];
    if (key?.kind !== 'resource') {
      rows = (await q
        .selectAll()
        .orderBy('time', 'desc')
        .orderBy('id', 'desc')
        .limit(limit)
        .execute()) as ChainedEventRow[];
      const last = rows.at(-1);
      keyset.advance(last && { time: Number(last.time), id: last.id }, rows.length, limit);
      return rows;
    }
    // Names under a prefix come from the index in name order and must be sorted by time: sort the
    // index entries alone (the index holds time and id), then read only the batch's rows.
    const keys = await q
      .select(['id', 'time'])
      .orderBy('time', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    const last = keys.at(-1);
    keyset.advance(last && { time: Number(last.time), id: last.id }, keys.length, limit);
    return readRecords(
      db,
      keys.map((k) => k.id),
    );
  };
  return {
    next,
    get done() {
      return keyset.done;
    },
    get lastTimeMs() {
      return keyset.lastTimeMs;
    },
    get lastRecordId() {
      return keyset.lastRecordId;
    },
  };
}

/**
 * Records by their companions' query keys (`audit_terms`) in `project`: the term of `key`, or, for a
 * query by project alone, the records with a companion in `project` other than their own. An entry
 * lists a group commit's records with the key; entries come newest first by their newest record,
 * so a record not yet returned is never newer than the last entry's time.
 */
export function recordsByTerm(
  db: Kysely<Database>,
  options: TimeWindow & { readonly project: string; readonly key: RecordKey },
): RecordSource {
  const keyset = new Keyset();
  const key = options.key;
  const next = async (limit: number): Promise<ChainedEventRow[]> => {
    let q = db.selectFrom('audit_terms').where('project_id', '=', options.project);
    if (key.kind === 'resource') {
      const { exact, under } = key.ranges;
      q = q.where((eb) =>
        eb.or([
          ...(exact !== undefined ? [eb('term', '=', `r:${exact}`)] : []),
          ...under.map(([from, to]) => eb.and([eb('term', '>=', `r:${from}`), eb('term', '<', `r:${to}`)])),
        ]),
      );
    } else {
      q = q.where(
        'term',
        '=',
        key.kind === 'action' ? `a:${key.value}` : key.kind === 'principal' ? `p:${key.value}` : 'o:',
      );
    }
    if (options.sinceMs !== undefined) q = q.where('time', '>=', options.sinceMs);
    if (options.untilMs !== undefined) q = q.where('first_time', '<', options.untilMs);
    if (options.atOrBefore !== undefined) q = q.where('first_time', '<=', options.atOrBefore.time);
    const after = keyset.after;
    if (after)
      q = q.where((eb) =>
        eb.or([
          eb('time', '<', after.time),
          eb.and([eb('time', '=', after.time), eb('record_id', '<', after.id)]),
        ]),
      );
    const entries = await q
      .select(['record_id', 'time', 'records'])
      .orderBy('time', 'desc')
      .orderBy('record_id', 'desc')
      .limit(limit)
      .execute();
    const last = entries.at(-1);
    keyset.advance(last && { time: Number(last.time), id: last.record_id }, entries.length, limit);
    // An entry's records are older than or as old as its time, in no order of id.
    keyset.lastRecordId = '\uffff';
    const ids = new Set<string>();
    for (const entry of entries) for (const id of JSON.parse(entry.records) as string[]) ids.add(id);
    return readRecords(db, [...ids]);
  };
  return {
    next,
    get done() {
      return keyset.done;
    },
    get lastTimeMs() {
      return keyset.lastTimeMs;
    },
    get lastRecordId() {
      return keyset.lastRecordId;
    },
  };
}

/** The records with `ids`, newest first. */
async function readRecords(db: Kysely<Database>, ids: readonly string[]): Promise<ChainedEventRow[]> {
  if (ids.length === 0) return [];
  return (await db
    .selectFrom('audit_events')
    .selectAll()
    .where('id', 'in', ids)
    .orderBy('time', 'desc')
    .orderBy('id', 'desc')
    .execute()) as ChainedEventRow[];
}
