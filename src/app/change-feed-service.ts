import { CofferError, errors } from '../core/errors.ts';
import { clampPageSize } from '../core/pagination.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { Permission } from '../iam/permissions.ts';
import type { Principal } from '../iam/principal.ts';
import { feedBounds, readChanges, type ChangeRow } from '../storage/change-log.ts';
import type { Storage } from '../storage/storage-types.ts';

/** One change as the API answers it (docs/changes.md). */
export interface ChangeItem {
  cursor: string;
  time: string;
  type: string;
  resource: string;
  version?: number;
  stage?: string;
  principal: string;
}

/** A page of a project's feed. */
export interface ChangePage {
  items: ChangeItem[];
  nextCursor: string;
}

/** Where a read starts: a cursor, `latest` (the head), or undefined (the oldest retained). */
export type FeedStart = number | 'latest' | undefined;

const cursorPattern = /^[0-9]{1,16}$/;
/** Rows read per query while filtering a page. */
const scanBatch = 500;
/** Cursors of the global feed one page reads at most (a window after `after`), shown or not. */
export const scanLimit = 5000;

/** Parses `after` / `Last-Event-ID`: a decimal cursor, `latest`, or absent. */
export function parseFeedStart(value: string | undefined, field: string): FeedStart {
  if (value === undefined || value === '') return undefined;
  if (value === 'latest') return 'latest';
  if (!cursorPattern.test(value))
    throw errors.invalid(`${field} must be a change cursor (a decimal number).`);
  return Number(value);
}

/** Whether `resource` is `filter` or under it, at name boundaries (like the audit resource filter). */
export function resourceMatches(filter: string | undefined, resource: string): boolean {
  if (filter === undefined) return true;
  if (filter.endsWith('/') || filter.toUpperCase().endsWith('%2F')) return resource.startsWith(filter);
  return resource === filter || resource.startsWith(`${filter}/`) || resource.startsWith(`${filter}%2F`);
}

const projectVisibility: readonly Permission[] = ['projects.get'];
const visibilityByKind = new Map<string, readonly Permission[]>([
  ['secrets', ['secrets.secrets.get', 'secrets.get_value']],
  ['instances', ['secrets.instances.get']],
  ['keys', ['kms.keys.get']],
  ['keyrings', ['kms.key_rings.get']],
  ['service-accounts', ['iam.service_accounts.get']],
  ['databases', ['secrets.databases.get']],
  // A database role (`…/databases/{db}/roles/{role}`): its readers and those who may issue on it.
  ['roles', ['secrets.databases.get', 'secrets.leases.issue']],
]);

/** The permissions of which one lets a caller see a change on `resource` (metadata or value). */
export function visibilityPermissions(resource: string): readonly Permission[] {
  const segments = resource.split('/');
  // Walk the `collection/id` pairs; the last collection that names a kind decides.
  let kind = 'projects';
  for (let i = 0; i + 1 < segments.length; i += 2) {
    const collection = segments[i]!;
    if (collection !== 'versions' && collection !== 'regions') kind = collection;
  }
  return visibilityByKind.get(kind) ?? projectVisibility;
}

/** The API form of a sequenced change. */
export function changeItem(row: ChangeRow): ChangeItem {
  return {
    cursor: String(row.cursor),
    time: new Date(row.timeMs).toISOString(),
    type: row.type,
    resource: row.resource,
    ...(row.version !== null ? { version: row.version } : {}),
    ...(row.stage !== null ? { stage: row.stage } : {}),
    principal: row.principal,
  };
}

/** The visibility decisions made for one row under one authorizer generation. */
interface SharedDecisions {
  readonly generation: number;
  readonly permissions: readonly Permission[];
  readonly byPrincipal: Map<Principal, boolean | Promise<boolean>>;
}

/**
 * Reads of a project's change feed: where a read may start (410 `gone` below retention), and which
 * changes a caller may see (the metadata or value permission of the resource each is about).
 */
export class ChangeFeedService {
  readonly #storage: Storage;
  readonly #authorizer: Authorizer;
  // visibleShared's decisions, per row object: weak, so a batch's decisions go with its rows.
  readonly #decisions = new WeakMap<ChangeRow, SharedDecisions>();

  constructor(storage: Storage, authorizer: Authorizer) {
    this.#storage = storage;
    this.#authorizer = authorizer;
  }

  /** The cursor a read starts after; `gone` when changes after the given one were pruned. */
  async startOf(start: FeedStart): Promise<number> {
    const { head, prunedThrough } = await feedBounds(this.#storage.db);
    if (start === undefined) return prunedThrough;
    if (start === 'latest') return head;
    if (start < prunedThrough) throw goneError(start, prunedThrough);
    return start;
  }

  /**
   * `gone` when retention pruned changes after `after` (checked again after a read: a prune that ran
   * between the start check and the read may have removed rows the read then never saw).
   */
  async requireRetained(after: number): Promise<void> {
    const { prunedThrough } = await feedBounds(this.#storage.db);
    if (after < prunedThrough) throw goneError(after, prunedThrough);
  }

  /**
   * Whether `principal` may see `row` (cached IAM decisions, so cheap per item): it may read the
   * resource now, or it could before a change that removed its access (the row's audience).
   */
  async visible(principal: Principal, row: ChangeRow): Promise<boolean> {
    return this.#decide(principal, row, visibilityPermissions(row.resource));
  }

  /**
   * `visible`, decided once per principal and row and shared by every stream of that principal
   * that handles the same row object (the follower hands one batch to all streams): a boolean when
   * already decided, else the decision in flight. A decision is shared only while the authorizer's
   * caches are those it was made with: after an invalidation the next stream decides again, as it
   * would have without sharing. A failed decision is not kept.
   */
  visibleShared(principal: Principal, row: ChangeRow): boolean | Promise<boolean> {
    const generation = this.#authorizer.generation;
    let shared = this.#decisions.get(row);
    if (shared === undefined || shared.generation !== generation) {
      shared = { generation, permissions: visibilityPermissions(row.resource), byPrincipal: new Map() };
      this.#decisions.set(row, shared);
    }
    const known = shared.byPrincipal.get(principal);
    if (known !== undefined) return known;
    const decisions = shared.byPrincipal;
    const deciding: Promise<boolean> = this.#decide(principal, row, shared.permissions).then(
      (visible) => {
        if (decisions.get(principal) === deciding) decisions.set(principal, visible);
        return visible;
      },
      (err: unknown) => {
        if (decisions.get(principal) === deciding) decisions.delete(principal);
        throw err;
      },
    );
    decisions.set(principal, deciding);
    return deciding;
  }

  /** It may read the resource now (one walk of the chain for all `permissions`), or is in the row's audience. */
  async #decide(principal: Principal, row: ChangeRow, permissions: readonly Permission[]): Promise<boolean> {
    if (row.audience?.includes(principal)) return true;
    return this.#authorizer.holdsAny(principal, permissions, row.resource);
  }

  /** One page of `projectId`'s feed after `start`, filtered to what `principal` may see. */
  async page(
    principal: Principal,
    projectId: string,
    query: { start: FeedStart; pageSize?: number; resource?: string },
  ): Promise<ChangePage> {
    const size = clampPageSize(query.pageSize);
    const start = await this.startOf(query.start);
    // A page reads a window of the global cursor space, (start, start + scanLimit], never past the
    // head read here: every change up to that head is committed with its cursor, so a scan of the
    // window that runs out has seen all of them. A page that does not fill therefore answers the
    // window's end, which depends only on `start` and the head, never on which cursors this project
    // has (a stranger learns nothing about its activity), and never passes the head.
    const { head } = await feedBounds(this.#storage.db);
    const windowEnd = Math.max(start, Math.min(start + scanLimit, head));
    let position = start;
    const items: ChangeItem[] = [];
    for (;;) {
      const rows = await readChanges(this.#storage.db, position, scanBatch, projectId, windowEnd);
      for (const row of rows) {
        position = row.cursor;
        if (resourceMatches(query.resource, row.resource) && (await this.visible(principal, row))) {
          items.push(changeItem(row));
          // Full: the next page starts after this item, a cursor the caller may see.
          if (items.length === size) return this.#answer(start, items, position);
        }
      }
      if (rows.length < scanBatch) break;
    }
    return this.#answer(start, items, windowEnd);
  }

  /** The page, once retention is known not to have pruned changes the read may have missed. */
  async #answer(start: number, items: ChangeItem[], nextCursor: number): Promise<ChangePage> {
    await this.requireRetained(start);
    return { items, nextCursor: String(nextCursor) };
  }
}

/** `410 gone` naming the oldest cursor still accepted. */
export function goneError(after: number, oldest: number): CofferError {
  return new CofferError(
    'gone',
    `Changes after cursor ${after} were pruned; the oldest cursor accepted is ${oldest}: re-read what you cache, then follow from it.`,
    { details: { oldestCursor: String(oldest) } },
  );
}
