import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type CofferServer, startCoffer } from '../lib/coffer-server.ts';
import type { RequestSpec } from '../lib/wrk.ts';
import { jsonHeaders } from './kms-setup.ts';

/** Slug of the `aes256-gcm96` key every bench secret is bound to (`kmsKeyIdentity`). */
export const benchKeySlug = 'bench-secrets';

/** A Coffer server holding `stored` secrets, `real` of them made through the API and readable. */
export interface SecretsFixture {
  readonly server: CofferServer;
  /** `/v2/projects/{p}/regions/local/instances/{i}`. */
  readonly instancePath: string;
  /** Paths of the secrets made through the API (KMS-bound, with a value that decrypts). */
  readonly paths: readonly string[];
  /** Secrets in the instance: the real ones plus the filler rows. */
  readonly stored: number;
  /** Seconds spent creating the real secrets through the API. */
  readonly apiSeconds: number;
  /** Seconds spent writing the filler rows straight into SQLite (server stopped). */
  readonly fillSeconds: number;
  /** Seconds from the restart on the filled data dir until `GET /v2/health` answered. */
  readonly restartSeconds: number;
  /** Size of coffer.db (+ -wal) after the fill, in bytes. */
  readonly dbBytes: number;
}

/** The value every real secret is created with: 32 random bytes, base64 (44 characters). */
function freshValue(): string {
  return randomBytes(32).toString('base64');
}

/** URL of one secret (paths contain `/`, so they are percent-encoded as one segment). */
export function secretUrl(instancePath: string, path: string): string {
  return `${instancePath}/secrets/${encodeURIComponent(path)}`;
}

/** Runs `work(i)` for i in [0, count) with at most `parallel` in flight. */
async function pool(count: number, parallel: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await work(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
}

/**
 * Writes `count` filler secrets into `dataDir/coffer.db` while no server runs: for each, a row in
 * `sm_secrets` (fresh uid, unique path `filler/f-…`, same instance and key as the real ones), its
 * version 1 in `sm_versions` and its `current` stage in `sm_stages`, all copied from a real secret's
 * rows (the ciphertext and wrapped key too: filler values are never read, so they need not decrypt).
 * Transactions of 50,000 rows, `synchronous=OFF` (a bench fixture, not data to keep).
 */
export function writeFiller(
  dataDir: string,
  templatePath: string,
  count: number,
  /** The path and labels of filler `i` (default `filler/f-…`, the template's labels). */
  shape?: (i: number) => { path: string; labels?: Readonly<Record<string, string>> },
): void {
  const db = new DatabaseSync(join(dataDir, 'coffer.db'));
  try {
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -200000;');
    const secret = db.prepare('SELECT * FROM sm_secrets WHERE path = ?').get(templatePath) as
      Record<string, unknown> | undefined;
    if (!secret) throw new Error(`filler: no secret "${templatePath}" to copy`);
    const versions = db
      .prepare('SELECT * FROM sm_versions WHERE secret_uid = ? ORDER BY version')
      .all(secret.uid as string) as Record<string, unknown>[];
    const stages = db
      .prepare('SELECT * FROM sm_stages WHERE secret_uid = ?')
      .all(secret.uid as string) as Record<string, unknown>[];
    if (versions.length === 0) throw new Error(`filler: secret "${templatePath}" has no version`);
    const insertOf = (table: string, row: Record<string, unknown>) => {
      const columns = Object.keys(row);
      return {
        columns,
        statement: db.prepare(
          `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
        ),
      };
    };
    const secretInsert = insertOf('sm_secrets', secret);
    const versionInsert = insertOf('sm_versions', versions[0]!);
    const stageInsert = stages.length > 0 ? insertOf('sm_stages', stages[0]!) : undefined;
    type Value = string | number | bigint | null | Uint8Array;
    const valuesOf = (columns: readonly string[], row: Record<string, unknown>) =>
      columns.map((column) => row[column] as Value);
    const batch = 50_000;
    for (let start = 0; start < count; start += batch) {
      db.exec('BEGIN');
      for (let i = start; i < Math.min(count, start + batch); i++) {
        const uid = randomUUID();
        const shaped = shape?.(i);
        const path = shaped?.path ?? `filler/f-${String(i).padStart(7, '0')}`;
        secretInsert.statement.run(
          ...valuesOf(secretInsert.columns, {
            ...secret,
            uid,
            path,
            ...(shaped?.labels ? { labels: JSON.stringify(shaped.labels) } : {}),
            next_version: 2,
            etag: randomUUID(),
          }),
        );
        versionInsert.statement.run(...valuesOf(versionInsert.columns, { ...versions[0]!, secret_uid: uid }));
        for (const stage of stages) {
          stageInsert!.statement.run(
            ...valuesOf(stageInsert!.columns, { ...stage, secret_uid: uid, version: 1 }),
          );
        }
      }
      db.exec('COMMIT');
    }
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

/** Size of the SQLite database files in `dataDir`. */
function dbSize(dataDir: string): number {
  let total = 0;
  for (const name of ['coffer.db', 'coffer.db-wal']) {
    try {
      total += statSync(join(dataDir, name)).size;
    } catch {
      // absent
    }
  }
  return total;
}

/** Options of `secretsFixture`. */
export interface SecretsFixtureOptions {
  readonly repoDir: string;
  readonly workDir: string;
  readonly serverCpu: number;
  /** Secrets in the instance in all (real + filler). */
  readonly stored: number;
  /** Secrets made through the API (the ones the requests read and write). */
  readonly real: number;
  readonly env?: Readonly<Record<string, string>>;
  /** Extra node flags of the server (profiling). */
  readonly nodeFlags?: readonly string[];
  readonly log: (line: string) => void;
}

/**
 * Starts Coffer, creates a project, an instance, a key ring and an `aes256-gcm96` key with slug
 * `bench-secrets`, then `real` KMS-bound secrets through the API (16 in flight). When `stored` is
 * larger, stops the server, writes the filler rows into its SQLite file, and restarts it on the same
 * data dir. The real secrets' values are checked once after the restart.
 */
export async function secretsFixture(options: SecretsFixtureOptions): Promise<SecretsFixture> {
  const start = (dataDir?: string) =>
    startCoffer({
      repoDir: options.repoDir,
      workDir: options.workDir,
      serverCpu: options.serverCpu,
      keepData: true,
      ...(options.env ? { env: options.env } : {}),
      ...(options.nodeFlags ? { nodeFlags: options.nodeFlags } : {}),
      ...(dataDir ? { dataDir } : {}),
    });
  let server = await start();
  const dataDir = server.dataDir;
  try {
    const project = await server.call<{ id: string }>('POST', '/v2/projects', {}, 201);
    const region = `/v2/projects/${project.id}/regions/local`;
    const instance = await server.call<{ id: string }>('POST', `${region}/instances`, { name: 'bench' }, 201);
    const instancePath = `${region}/instances/${instance.id}`;
    const ring = await server.call<{ id: string }>(
      'POST',
      `${region}/keyrings`,
      { displayName: 'bench' },
      201,
    );
    await server.call(
      'POST',
      `${region}/keyrings/${ring.id}/keys`,
      { algorithm: 'aes256-gcm96', slug: benchKeySlug },
      201,
    );
    const paths = Array.from({ length: options.real }, (_, i) => `bench/s-${String(i).padStart(5, '0')}`);
    const values = new Map<string, string>();
    const t0 = performance.now();
    await pool(paths.length, 16, async (i) => {
      const value = freshValue();
      values.set(paths[i]!, value);
      await server.call(
        'POST',
        `${instancePath}/secrets`,
        { path: paths[i], kmsKeyIdentity: benchKeySlug, value },
        201,
      );
    });
    const apiSeconds = (performance.now() - t0) / 1000;
    options.log(`  created ${paths.length} KMS-bound secrets through the API in ${apiSeconds.toFixed(1)} s`);
    let fillSeconds = 0;
    let restartSeconds = 0;
    const filler = options.stored - options.real;
    if (filler > 0) {
      await server.stop();
      const t1 = performance.now();
      writeFiller(dataDir, paths[0]!, filler);
      fillSeconds = (performance.now() - t1) / 1000;
      options.log(`  wrote ${filler} filler secrets into SQLite in ${fillSeconds.toFixed(1)} s`);
      const t2 = performance.now();
      server = await start(dataDir);
      restartSeconds = (performance.now() - t2) / 1000;
      options.log(`  restarted on the filled data dir in ${restartSeconds.toFixed(1)} s`);
    }
    for (const path of [paths[0]!, paths[paths.length - 1]!]) {
      const read = await server.call<{ value: string }>('GET', `${secretUrl(instancePath, path)}/value`);
      if (read.value !== values.get(path))
        throw new Error(`getSecretValue of ${path} did not return its value`);
    }
    const listed = await server.call<{ items: unknown[] }>('GET', `${instancePath}/secrets?pageSize=1`);
    if (listed.items.length !== 1) throw new Error('listing the instance found no secret');
    const stopped = server;
    return {
      server: {
        ...stopped,
        stop: async () => {
          await stopped.stop();
          rmSync(dataDir, { recursive: true, force: true });
        },
      },
      instancePath,
      paths,
      stored: options.stored,
      apiSeconds,
      fillSeconds,
      restartSeconds,
      dbBytes: dbSize(dataDir),
    };
  } catch (err) {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** The requests of the secrets scenarios, spread over the fixture's real secrets at random. */
export function secretsRequests(
  fixture: SecretsFixture,
  batchSize = 20,
): { get: RequestSpec; put: RequestSpec; batchGet: RequestSpec } {
  const headers = jsonHeaders(fixture.server.token);
  const { instancePath, paths } = fixture;
  const putBody = JSON.stringify({ value: freshValue() });
  const batchBodies = Array.from({ length: 1000 }, () => {
    const chosen = new Set<string>();
    while (chosen.size < Math.min(batchSize, paths.length))
      chosen.add(paths[Math.floor(Math.random() * paths.length)]!);
    return { body: JSON.stringify({ secrets: [...chosen] }) };
  });
  return {
    get: {
      method: 'GET',
      path: `${secretUrl(instancePath, paths[0]!)}/value`,
      headers,
      variants: paths.map((path) => ({ path: `${secretUrl(instancePath, path)}/value` })),
    },
    put: {
      method: 'PUT',
      path: `${secretUrl(instancePath, paths[0]!)}/value`,
      headers,
      body: putBody,
      variants: paths.map((path) => ({ path: `${secretUrl(instancePath, path)}/value` })),
    },
    batchGet: {
      method: 'POST',
      path: `${instancePath}/secrets:batchGetValues`,
      headers,
      body: batchBodies[0]!.body,
      variants: batchBodies,
    },
  };
}

/** Server peak resident memory (VmHWM from /proc/<pid>/status), in bytes. */
export function peakRss(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}
