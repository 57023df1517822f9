/**
 * PostgreSQL for tests: a throwaway database per caller on `COFFER_TEST_POSTGRES_URL` (default: the
 * local server with trust auth). Outside CI an unreachable server skips the PostgreSQL tests; in CI
 * (`CI=true`) it fails them, so the mandatory engine is never silently untested.
 */

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describePostgresTarget } from '../../src/storage/postgres/postgres-errors.ts';

/** The server the tests use, as a URL to its maintenance database. */
export const testPostgresUrl =
  process.env.COFFER_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database made for one test run. */
export interface TestDatabase {
  /** URL of the new database (same server and credentials as `testPostgresUrl`). */
  readonly url: string;
  /** Its name. */
  readonly name: string;
  /** Drops it, closing whatever connections are left. */
  drop(): Promise<void>;
}

/** Why PostgreSQL tests must skip, or undefined when the server answers. Throws in CI. */
export async function postgresSkipReason(): Promise<string | undefined> {
  try {
    await withAdmin(async (client) => {
      await client.query('SELECT 1');
    });
    return undefined;
  } catch (err) {
    const reason = `PostgreSQL unreachable at ${describePostgresTarget(testPostgresUrl)} (set COFFER_TEST_POSTGRES_URL): ${
      err instanceof Error ? err.message : String(err)
    }`;
    if (process.env.CI === 'true') throw new Error(reason, { cause: err });
    return reason;
  }
}

/** Creates a uniquely named database and returns its URL and a drop function. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `coffer_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(testPostgresUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () =>
      withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}

/** Runs `fn` on a short-lived connection to the maintenance database. */
export async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testPostgresUrl, connectionTimeoutMillis: 3000 });
  // An error after connecting (server shutdown) must not crash the test process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
