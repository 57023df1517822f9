import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Storage } from './storage-types.ts';

/** Prefix of the PostgreSQL `application_name` of every connection of a node: `coffer/<nodeId>`. */
const applicationPrefix = 'coffer/';

/** How long one look at the database's sessions answers `nodes()` (health may be polled hard). */
const refreshMs = 1000;

/** A fresh random id for this process (12 hex characters; new on every start). */
export function newNodeId(): string {
  return randomBytes(6).toString('hex');
}

/** The PostgreSQL `application_name` that marks a node's connections (docs/cluster.md). */
export function nodeApplicationName(nodeId: string): string {
  return `${applicationPrefix}${nodeId}`;
}

/**
 * The nodes this node sees on its database, for `GET /v2/health` (docs/cluster.md). On PostgreSQL a
 * node is a distinct `application_name` `coffer/<id>` among the database's sessions
 * (`pg_stat_activity`, readable by any role): a node is listed while it holds a connection (its
 * change-feed poll keeps one) and drops out as soon as PostgreSQL sees its connections close (a
 * killed process's sockets are closed by the kernel). No table and no heartbeat: nothing to clean up.
 * SQLite has one process per database: the node itself.
 */
export class ClusterView {
  readonly #storage: Storage;
  readonly #nodeId: string;
  #last: { readonly atMs: number; readonly nodes: Promise<string[]> } | undefined;

  constructor(storage: Storage, nodeId: string) {
    this.#storage = storage;
    this.#nodeId = nodeId;
  }

  /** This node's id. */
  get nodeId(): string {
    return this.#nodeId;
  }

  /** The ids of the nodes connected to the database, sorted; rejects when it cannot be asked. */
  nodes(): Promise<string[]> {
    if (this.#storage.engine !== 'postgres') return Promise.resolve([this.#nodeId]);
    const now = performance.now();
    if (this.#last === undefined || now - this.#last.atMs >= refreshMs) {
      const nodes = this.#read();
      this.#last = { atMs: now, nodes };
      // A failed look is not kept: the next call asks again.
      nodes.catch(() => {
        if (this.#last?.nodes === nodes) this.#last = undefined;
      });
    }
    return this.#last.nodes;
  }

  async #read(): Promise<string[]> {
    const result = await sql<{ name: string }>`
      SELECT DISTINCT application_name AS name FROM pg_stat_activity
      WHERE datname = current_database() AND starts_with(application_name, ${applicationPrefix})`.execute(
      this.#storage.db,
    );
    return result.rows.map((row) => row.name.slice(applicationPrefix.length)).sort();
  }
}
