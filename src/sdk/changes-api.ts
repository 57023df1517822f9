import type { ChangesPageView } from '../core/api/changes-schemas.ts';
import type { ChangeEvent } from './change-event-parser.ts';
import { type ChangeStreamOptions, followChanges } from './change-stream.ts';
import type { CallOptions, HttpTransport } from './http-transport.ts';
import { type ProjectRef, seg } from './sdk-types.ts';

/** A page of the change feed: `nextCursor` is where the next read starts (`after`). */
export type ChangesPage = ChangesPageView;

/** Options of `changes.list()`. */
export interface ChangesListOptions {
  /** Changes after this cursor (default: from the oldest retained); `latest` answers no items and the head cursor. */
  readonly after?: string;
  /** At most this many items (1–1000, default 100). */
  readonly pageSize?: number;
  /** Only changes on this resource name or below it (a prefix at name boundaries). */
  readonly resource?: string;
}

function changesPath(project: ProjectRef): string {
  return `/v2/projects/${seg(project.projectId)}/changes`;
}

/**
 * The change feed (docs/changes.md): what changed in a project, in order, metadata only, never a
 * value. A cursor too old for the server's retention throws CofferApiError `gone` (status 410) with
 * `details.oldestCursor`: re-read what you cache, then follow from there.
 */
export class ChangesApi {
  readonly #http: HttpTransport;
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** `GET /v2/projects/{p}/changes`: one page of changes after a cursor, in cursor order. */
  list(
    project: ProjectRef,
    options: ChangesListOptions = {},
    callOptions?: CallOptions,
  ): Promise<ChangesPage> {
    const query = { after: options.after, pageSize: options.pageSize, resource: options.resource };
    return this.#http.send({ method: 'GET', path: changesPath(project), query }, callOptions);
  }

  /**
   * `GET /v2/projects/{p}/changes:stream` (Server-Sent Events) as an async iterable: resumes after a
   * drop from the last cursor received, reconnects with jittered backoff, ends when `signal` aborts
   * or the loop breaks, and throws `gone`, `unauthenticated` and `permission_denied` (no retry).
   *
   * ```ts
   * for await (const change of coffer.changes.stream({ projectId }, { after: 'latest', signal })) console.log(change.type, change.resource);
   * ```
   */
  stream(project: ProjectRef, options: ChangeStreamOptions = {}): AsyncIterable<ChangeEvent> {
    return followChanges(
      this.#http,
      {
        path: `${changesPath(project)}:stream`,
        latest: async (signal) => (await this.list(project, { after: 'latest' }, { signal })).nextCursor,
      },
      options,
    );
  }
}
