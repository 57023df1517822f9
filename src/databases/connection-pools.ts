import { createHash } from 'node:crypto';
import pg from 'pg';
import { targetFailed, type PostgresTarget } from '../targets/postgres-target.ts';
import type { DbConnection } from './database-types.ts';

/** Time limits of the admin connections to databases. */
export interface PoolTimeouts {
  /** Connecting (ms, default 5000). */
  readonly connectTimeoutMs?: number;
  /** One statement (ms, default 10000). */
  readonly statementTimeoutMs?: number;
  /** An idle pooled connection is closed after (ms, default 30000). */
  readonly idleTimeoutMs?: number;
}

/** Pooled clients given an error listener already (pg.Pool reuses them). */
const guarded = new WeakSet<pg.PoolClient>();

interface Entry {
  readonly fingerprint: string;
  readonly pool: pg.Pool;
}

/** What makes a pool stale: any setting or credential changed (hashed: the password stays in the pool only). */
function fingerprintOf(connection: DbConnection, target: PostgresTarget): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        target.host,
        target.port,
        target.database,
        target.username,
        target.password,
        target.sslmode,
        target.sslRootCert ?? '',
        connection.maxOpenConnections,
      ]),
    )
    .digest('base64url');
}

/**
 * The admin connections to the databases of dynamic credentials: one small `pg.Pool` per database
 * connection, created when first needed, bounded by its `maxOpenConnections`, replaced when its
 * settings or the admin credential change (a rotated admin secret), closed when the connection is
 * updated or deleted and when the node closes. Issue and revocation share them.
 */
export class ConnectionPools {
  readonly #pools = new Map<string, Entry>();
  readonly #timeouts: PoolTimeouts;
  #closed = false;

  constructor(timeouts: PoolTimeouts = {}) {
    this.#timeouts = timeouts;
  }

  /** The pool of `connection` as `target`'s user (the admin), made or replaced as needed. */
  pool(connection: DbConnection, target: PostgresTarget): pg.Pool {
    if (this.#closed) throw new Error('The database connection pools are closed.');
    const fingerprint = fingerprintOf(connection, target);
    const found = this.#pools.get(connection.uid);
    if (found?.fingerprint === fingerprint) return found.pool;
    if (found) void found.pool.end().catch(() => undefined);
    const pool = new pg.Pool({
      host: target.host,
      port: target.port,
      database: target.database,
      user: target.username,
      password: target.password,
      max: connection.maxOpenConnections,
      connectionTimeoutMillis: this.#timeouts.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: this.#timeouts.idleTimeoutMs ?? 30_000,
      statement_timeout: this.#timeouts.statementTimeoutMs ?? 10_000,
      application_name: 'coffer',
      allowExitOnIdle: true,
      ssl:
        target.sslmode === 'disable'
          ? false
          : {
              rejectUnauthorized: target.sslmode === 'verify-full',
              ...(target.sslRootCert ? { ca: target.sslRootCert } : {}),
            },
    });
    // An idle connection the server drops must not crash the process; the next checkout reconnects.
    pool.on('error', () => undefined);
    this.#pools.set(connection.uid, { fingerprint, pool });
    return pool;
  }

  /**
   * Runs `fn` with a pooled admin client of `connection`. Any failure becomes `target_failed`
   * naming the database (never the admin password); a client that failed is discarded, not reused.
   */
  async withAdminClient<T>(
    connection: DbConnection,
    target: PostgresTarget,
    fn: (client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    const what = `database ${connection.name}`;
    let client: pg.PoolClient;
    try {
      client = await this.pool(connection, target).connect();
    } catch (err) {
      throw targetFailed(what, err, [target.password]);
    }
    // A session the server ends while it is checked out (terminated, restarted) must not crash the
    // process: the query in flight fails instead, and the client is discarded on release.
    if (!guarded.has(client)) {
      guarded.add(client);
      client.on('error', () => undefined);
    }
    let failed = false;
    try {
      return await fn(client);
    } catch (err) {
      failed = true;
      throw targetFailed(what, err, [target.password]);
    } finally {
      client.release(failed);
    }
  }

  /** Closes the pool of a connection (updated or deleted). */
  async close(connectionUid: string): Promise<void> {
    const found = this.#pools.get(connectionUid);
    if (!found) return;
    this.#pools.delete(connectionUid);
    await found.pool.end().catch(() => undefined);
  }

  /** Closes every pool (the node closes); later use throws. */
  async closeAll(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((e) => e.pool.end().catch(() => undefined)));
  }
}
