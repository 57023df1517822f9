import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { restoreBackup } from '../src/backup/backup-restore.ts';
import { dataDirWithKey, rewriteBackup } from './support/backup-files.ts';
import { runCoffer } from './support/cli-process.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const enc = encodeURIComponent;

/** One acknowledged write: the value a secret version holds. */
interface Write {
  readonly path: string;
  readonly version: number;
  readonly value: string;
}

describe('backup and restore', () => {
  const work = mkdtempSync(join(tmpdir(), 'coffer-backup-'));
  const file = join(work, 'drill.cbk');
  let source: TestNode;
  let admin: string;
  let instanceBase: string;
  let reader: string;
  const nodes: TestNode[] = [];
  const databases: TestDatabase[] = [];
  const ackedBefore: Write[] = [];
  const ackedLater: Write[] = [];
  const paths = ['db/password', 'api/key', 'tls/cert', 'smtp', 'unicode/values'];
  const secretPath = (path: string) => `${instanceBase}/secrets/${enc(path)}`;

  const readValue = (node: TestNode, write: Write, token = admin) =>
    call(node.url, 'GET', `${secretPath(write.path)}/value?version=${write.version}`, { token });

  before(async () => {
    source = await startTestNode();
    admin = source.adminToken!;
    const api = (method: string, path: string, body?: unknown) =>
      call(source.url, method, path, { token: admin, ...(body === undefined ? {} : { body }) });
    const projectId = (await api('POST', '/v2/projects', {})).body.id as string;
    const instance = await api('POST', `/v2/projects/${projectId}/regions/local/instances`, { name: 'main' });
    assert.equal(instance.status, 201, JSON.stringify(instance.body));
    instanceBase = `/v2/projects/${projectId}/regions/local/instances/${instance.body.id}`;
    for (const path of paths) {
      const created = await api('POST', `${instanceBase}/secrets`, { path, value: `first ${path}` });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
    const sa = await api('POST', `/v2/projects/${projectId}/service-accounts`, { name: 'reader' });
    const email = sa.body.email as string;
    const policy = await api('GET', `/v2/projects/${projectId}/iam-policy`);
    const set = await api('PUT', `/v2/projects/${projectId}/iam-policy`, {
      bindings: [
        ...policy.body.bindings,
        { role: 'roles/secretsmanager.secretAccessor', members: [`serviceAccount:${email}`] },
      ],
      etag: policy.body.etag,
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    reader = (await api('POST', `/v2/projects/${projectId}/service-accounts/${enc(email)}/tokens`, {})).body
      .token as string;
  });

  after(async () => {
    for (const node of nodes) await node.destroy().catch(() => undefined);
    await source?.stop().catch(() => undefined);
    for (const database of databases) await database.drop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });

  test('DR drill: backup via the CLI under writes, restore on a fresh node: every write acknowledged before is there, byte-equal', async () => {
    const acknowledged: Write[] = [];
    let writing = true;
    const writer = async (n: number) => {
      for (let i = 0; writing; i++) {
        const path = paths[(n + i) % paths.length]!;
        const value = `${randomBytes(12).toString('base64')} ✓ ${n}/${i}`;
        const res = await call(source.url, 'PUT', `${secretPath(path)}/value`, {
          token: admin,
          body: { value },
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        acknowledged.push({ path, version: res.body.version as number, value });
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    try {
      while (acknowledged.length < 40) await new Promise((resolve) => setTimeout(resolve, 5));
      ackedBefore.push(...acknowledged);
      const backup = await runCoffer(['operator', 'backup', '--out', file], {
        COFFER_ADDR: source.url,
        COFFER_TOKEN: admin,
      });
      const duringEnd = acknowledged.length;
      assert.equal(backup.code, 0, backup.stderr);
      assert.match(backup.stdout, /wrote .*drill\.cbk: \d+ rows/);
      assert.ok(!existsSync(`${file}.partial`));
      while (acknowledged.length < duringEnd + 20) await new Promise((resolve) => setTimeout(resolve, 5));
      writing = false;
      await Promise.all(writers);
      ackedLater.push(...acknowledged.slice(duringEnd));
    } finally {
      writing = false;
      await Promise.allSettled(writers);
    }
    assert.ok(ackedBefore.length >= 40 && ackedLater.length >= 20);

    // Only the owner role takes backups: a project-level reader is refused.
    const denied = await call(source.url, 'POST', '/v2/sys/backup', { token: reader });
    assert.equal(denied.status, 403);
    await source.stop();

    const dataDir = dataDirWithKey(work, 'restored', source.dataDir);
    const restored = await runCoffer(['operator', 'restore', file, '--data-dir', dataDir]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stdout, /restored \d+ rows into SQLite/);
    const node = await startTestNode({ dataDir });
    nodes.push(node);
    for (const write of ackedBefore) {
      const read = await readValue(node, write);
      assert.equal(read.status, 200, `${write.path}@${write.version}: ${JSON.stringify(read.body)}`);
      assert.equal(read.body.value, write.value);
    }
    // Writes acknowledged after the backup had finished are not in it.
    for (const write of ackedLater) assert.equal((await readValue(node, write)).status, 404);
    const verify = await call(node.url, 'GET', '/v2/sys/audit/verify', { token: admin });
    assert.equal(verify.status, 200);
    assert.equal(verify.body.valid, true, JSON.stringify(verify.body));
    assert.equal(readFileSync(join(dataDir, 'audit-head.json'), 'utf8').includes('coffer-audit-head'), true);
    // The backup's own event was made durable before the snapshot: it is in the file.
    const backupEvents = await node.app.storage.db
      .selectFrom('audit_events')
      .select(['principal', 'result'])
      .where('action', '=', 'sys.backup')
      .execute();
    assert.deepEqual(
      backupEvents.map((e) => e.result),
      ['ok'],
    );
    // Tokens and policies came along: the reader reads, and only what it was given.
    assert.equal((await readValue(node, ackedBefore[0]!, reader)).status, 200);
    const create = await call(node.url, 'POST', `${instanceBase}/secrets`, {
      token: reader,
      body: { path: 'x', value: 'y' },
    });
    assert.equal(create.status, 403);
    // The restored node takes writes and its chain still verifies.
    const put = await call(node.url, 'PUT', `${secretPath(paths[0]!)}/value`, {
      token: admin,
      body: { value: 'after restore' },
    });
    assert.equal(put.status, 201);
    assert.equal((await call(node.url, 'GET', '/v2/sys/audit/verify', { token: admin })).body.valid, true);
  });

  test(
    'SQLite → PostgreSQL → SQLite: the same file restores into an empty database and back',
    { skip: postgresSkip ?? false },
    async () => {
      const database = await createTestDatabase();
      databases.push(database);
      const pgDir = dataDirWithKey(work, 'pg-node', source.dataDir);
      const result = await restoreBackup({
        file,
        dataDir: pgDir,
        databaseUrl: database.url,
        writeTimeoutMs: 5000,
      });
      assert.equal(result.engine, 'postgres');
      const pgNode = await startTestNode({ dataDir: pgDir, env: { COFFER_DATABASE_URL: database.url } });
      nodes.push(pgNode);
      for (const write of ackedBefore.slice(0, 10))
        assert.equal((await readValue(pgNode, write)).body.value, write.value);
      assert.equal(
        (await call(pgNode.url, 'GET', '/v2/sys/audit/verify', { token: admin })).body.valid,
        true,
      );
      // A write on PostgreSQL (the change log's sequence continues after the restored rows).
      const put = await call(pgNode.url, 'PUT', `${secretPath(paths[1]!)}/value`, {
        token: admin,
        body: { value: 'on pg' },
      });
      assert.equal(put.status, 201, JSON.stringify(put.body));

      // Back: a backup of the PostgreSQL node through the route, restored into SQLite.
      const response = await fetch(`${pgNode.url}/v2/sys/backup`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}` },
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/octet-stream');
      const back = join(work, 'from-pg.cbk');
      writeFileSync(back, Buffer.from(await response.arrayBuffer()));
      const sqliteDir = dataDirWithKey(work, 'back-to-sqlite', source.dataDir);
      assert.equal(
        (await restoreBackup({ file: back, dataDir: sqliteDir, writeTimeoutMs: 5000 })).engine,
        'sqlite',
      );
      const node = await startTestNode({ dataDir: sqliteDir });
      nodes.push(node);
      const latest = await call(node.url, 'GET', `${secretPath(paths[1]!)}/value`, { token: admin });
      assert.equal(latest.body.value, 'on pg');
      assert.equal((await readValue(node, ackedBefore[0]!)).body.value, ackedBefore[0]!.value);
      assert.equal((await call(node.url, 'GET', '/v2/sys/audit/verify', { token: admin })).body.valid, true);
    },
  );

  test('a backup of an older schema restores, and the newer migrations run over its rows', async () => {
    // The drill's file as Coffer at 0013 would have written it: none of the tables and columns
    // that later migrations add (database connections 0014, AWS access keys and account ids 0016,
    // secret attributes 0017, KMS aliases, tags, attributes and grants 0018).
    const added = new Set([
      'db_connections',
      'db_roles',
      'db_leases',
      'iam_access_keys',
      'kms_aliases',
      'kms_key_tags',
      'kms_key_attributes',
      'kms_grants',
      'audit_terms',
    ]);
    const addedColumns: Record<string, readonly string[]> = {
      projects: ['aws_account_id'],
      audit_events: ['companions'],
      sm_secrets: ['description', 'tags', 'arn_suffix', 'resource_policy', 'deleted_time'],
    };
    const older = join(work, 'older.cbk');
    rewriteBackup(file, older, (records) => {
      const manifest = records[0] as { schemaVersion: string; tables: { name: string }[] };
      manifest.schemaVersion = '0013-rotation';
      manifest.tables = manifest.tables.filter((table) => !added.has(table.name));
      let skipping = false;
      let dropped: number[] = [];
      return records
        .filter((record) => {
          const kind = (record as { kind?: string }).kind;
          if (kind === 'table') skipping = added.has((record as { name: string }).name);
          if (kind === 'end' && skipping) {
            skipping = false;
            return false;
          }
          return !skipping;
        })
        .map((record) => {
          if (Array.isArray(record)) return record.filter((_, i) => !dropped.includes(i));
          const table = record as { kind?: string; name: string; columns: string[] };
          if (table.kind !== 'table') return record;
          const gone = addedColumns[table.name] ?? [];
          dropped = table.columns.flatMap((column, i) => (gone.includes(column) ? [i] : []));
          return { ...table, columns: table.columns.filter((column) => !gone.includes(column)) };
        });
    });
    const dataDir = dataDirWithKey(work, 'older', source.dataDir);
    const result = await restoreBackup({ file: older, dataDir, writeTimeoutMs: 5000 });
    assert.equal(result.manifest.schemaVersion, '0013-rotation');
    const node = await startTestNode({ dataDir });
    nodes.push(node);
    assert.equal((await readValue(node, ackedBefore[0]!)).body.value, ackedBefore[0]!.value);
    const applied = await node.app.storage.db.selectFrom('coffer_migrations').select('id').execute();
    assert.ok(applied.some((row) => row.id === '0014-databases'));
  });
});
