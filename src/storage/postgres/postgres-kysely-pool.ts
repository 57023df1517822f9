import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import { bindableParameters } from '../storage-fns.ts';

/**
 * The pg pool as Kysely's PostgresDialect sees it, with two additions so that reads behave like
 * writes: parameters bound as `write()` binds them (booleans as 0/1), and driver errors passed through
 * `mapError` (a down database becomes `storage_unavailable`, not an anonymous 500).
 */
export function kyselyPool(
  pool: pg.Pool,
  mapError: (err: unknown) => unknown,
  onConnectFailure?: (seconds: number) => void,
): PostgresPool {
  // One wrapper per pg client, so Kysely's per-client connection cache keeps working.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  return {
    options: pool.options,
    async connect() {
      let client: pg.PoolClient;
      const started = performance.now();
      try {
        client = await pool.connect();
      } catch (err) {
        // Kysely's log only sees queries: a read that could not get a connection is reported here.
        onConnectFailure?.((performance.now() - started) / 1000);
        throw mapError(err);
      }
      let wrapper = wrappers.get(client);
      if (wrapper === undefined) {
        wrapper = wrapClient(client, mapError);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    async end() {
      if (!pool.ended && !pool.ending) await pool.end();
    },
  };
}

function wrapClient(client: pg.PoolClient, mapError: (err: unknown) => unknown): PostgresPoolClient {
  const query = (sqlOrCursor: unknown, parameters?: readonly unknown[]): unknown => {
    // Cursors (Kysely's stream()) pass through untouched; Coffer configures none.
    if (typeof sqlOrCursor !== 'string') return client.query(sqlOrCursor as pg.Submittable);
    return client.query(sqlOrCursor, bindableParameters(parameters ?? [])).catch((err: unknown) => {
      throw mapError(err);
    });
  };
  return {
    query: query as PostgresPoolClient['query'],
    // pg-pool replaces `release` at every checkout, so look it up at call time.
    release: (destroy?: boolean) => client.release(destroy),
    get processID() {
      return (client as unknown as { processID?: number }).processID;
    },
  };
}
