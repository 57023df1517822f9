import pg from 'pg';

/**
 * The PostgreSQL server bench scenarios use (a superuser: scenarios create databases and roles):
 * `COFFER_BENCH_POSTGRES_URL`, else `COFFER_TEST_POSTGRES_URL`, else the local server as postgres.
 */
export const benchPostgresUrl =
  process.env.COFFER_BENCH_POSTGRES_URL ??
  process.env.COFFER_TEST_POSTGRES_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs `fn` on a short connection to `url` (connect timeout 5 s; closed afterwards, errors ignored on close). */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
