import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { restoreBackup } from '../src/backup/backup-restore.ts';
import { createSealKeyFile } from '../src/barrier/seal-key-file.ts';
import { dataDirWithKey, refused, rewriteBackup } from './support/backup-files.ts';
import { freePort, runCoffer } from './support/cli-process.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();

describe('backup and restore: bad input and faults', () => {
  const work = mkdtempSync(join(tmpdir(), 'coffer-backup-faults-'));
  const file = join(work, 'small.cbk');
  const databases: TestDatabase[] = [];
  let source: TestNode;

  before(async () => {
    source = await startTestNode();
    const token = source.adminToken!;
    const projectId = (await call(source.url, 'POST', '/v2/projects', { token, body: {} })).body.id as string;
    const region = `/v2/projects/${projectId}/regions/local`;
    const instance = await call(source.url, 'POST', `${region}/instances`, { token, body: { name: 'main' } });
    for (let i = 0; i < 20; i++) {
      const created = await call(source.url, 'POST', `${region}/instances/${instance.body.id}/secrets`, {
        token,
        body: { path: `s/${i}`, value: `value ${i}` },
      });
      assert.equal(created.status, 201);
    }
    const response = await fetch(`${source.url}/v2/sys/backup`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(response.status, 200);
    writeFileSync(file, Buffer.from(await response.arrayBuffer()));
    await source.stop();
  });

  after(async () => {
    for (const database of databases) await database.drop().catch(() => undefined);
    rmSync(source?.dataDir ?? '', { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  test('refusals, each with a clear error and nothing written', async () => {
    const fresh = (name: string) => join(work, name);
    const nothingAt = (dir: string) => assert.ok(!existsSync(dir), `${dir} was created`);

    // A data dir that holds a store.
    const listed = readdirSync(source.dataDir).sort();
    await refused(
      restoreBackup({ file, dataDir: source.dataDir, writeTimeoutMs: 5000 }),
      'not_empty',
      /is not empty \(it holds .*coffer\.db/,
    );
    assert.deepEqual(readdirSync(source.dataDir).sort(), listed);

    // A truncated file, and one with a flipped byte.
    const bytes = readFileSync(file);
    const cut = join(work, 'cut.cbk');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await refused(
      restoreBackup({ file: cut, dataDir: fresh('t1'), writeTimeoutMs: 5000 }),
      'corrupt',
      /corrupted or truncated/,
    );
    nothingAt(fresh('t1'));
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(bytes.length / 2)]! ^= 0x40;
    const flip = join(work, 'flip.cbk');
    writeFileSync(flip, flipped);
    await refused(
      restoreBackup({ file: flip, dataDir: fresh('t2'), writeTimeoutMs: 5000 }),
      'corrupt',
      /corrupted/,
    );
    nothingAt(fresh('t2'));

    // A schema from a newer Coffer.
    const newer = join(work, 'newer.cbk');
    rewriteBackup(file, newer, (records) => {
      Object.assign(records[0]!, { schemaVersion: '9999-from-the-future', cofferVersion: '99.0.0' });
      return records;
    });
    await refused(
      restoreBackup({ file: newer, dataDir: fresh('t3'), writeTimeoutMs: 5000 }),
      'newer_schema',
      /newer than this Coffer's .*Coffer 99\.0\.0 or later/,
    );
    nothingAt(fresh('t3'));

    // A row the writer never puts in a backup (the store id), smuggled in with a recomputed checksum.
    const smuggled = join(work, 'smuggled.cbk');
    rewriteBackup(file, smuggled, (records) => {
      type Entry = { kind?: string; name?: string; columns?: string[]; rows?: number };
      const start = records.findIndex((r) => (r as Entry).kind === 'table' && (r as Entry).name === 'system');
      const end = records.findIndex((r, i) => i > start && (r as Entry).kind === 'end');
      const columns = (records[start] as Entry).columns!;
      records.splice(
        end,
        0,
        columns.map((c) => (c === 'name' ? 'store-id' : '{}')),
      );
      (records[end + 1] as Entry).rows! += 1;
      const manifest = records[0] as { tables: { name: string; rows: number }[] };
      manifest.tables.find((t) => t.name === 'system')!.rows += 1;
      return records;
    });
    await refused(
      restoreBackup({ file: smuggled, dataDir: fresh('t3b'), writeTimeoutMs: 5000 }),
      'corrupt',
      /system row that backups never hold/,
    );
    nothingAt(fresh('t3b'));

    // A data dir whose seal key file is another root key's.
    const other = fresh('t4');
    mkdirSync(other, { mode: 0o700 });
    createSealKeyFile(join(other, 'seal.key'));
    await refused(
      restoreBackup({ file, dataDir: other, writeTimeoutMs: 5000 }),
      'root_key_mismatch',
      /does not open this backup's root key/,
    );
    assert.deepEqual(readdirSync(other), ['seal.key']);

    // The CLI says the same in one line and exits 1.
    const cli = await runCoffer(['operator', 'restore', cut, '--data-dir', fresh('t5')]);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^coffer: the backup file is corrupted or truncated/);
    nothingAt(fresh('t5'));
  });

  test(
    'PostgreSQL target: refused when not empty, unreachable or lost mid-restore, nothing written',
    { skip: postgresSkip ?? false },
    async () => {
      const database = await createTestDatabase();
      databases.push(database);
      const first = dataDirWithKey(work, 'pg-a', source.dataDir);
      await restoreBackup({ file, dataDir: first, databaseUrl: database.url, writeTimeoutMs: 5000 });
      await refused(
        restoreBackup({ file, dataDir: join(work, 'pg-b'), databaseUrl: database.url, writeTimeoutMs: 5000 }),
        'not_empty',
        /database is not empty/,
      );
      assert.ok(!existsSync(join(work, 'pg-b')));
      const port = await freePort();
      await refused(
        restoreBackup({
          file,
          dataDir: join(work, 'pg-c'),
          databaseUrl: `postgres://postgres:hunter2@127.0.0.1:${port}/nowhere`,
          writeTimeoutMs: 2000,
        }),
        'unavailable',
        /^restore failed, nothing was written: (?!.*hunter2).*127\.0\.0\.1:\d+\/nowhere/,
      );
      assert.ok(!existsSync(join(work, 'pg-c')));

      // PostgreSQL lost in the middle of the rows: the one transaction never commits.
      const target = await createTestDatabase();
      databases.push(target);
      const url = new URL(target.url);
      const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
      url.host = `127.0.0.1:${proxy.port}`;
      let cut = false;
      try {
        await refused(
          restoreBackup({
            file,
            dataDir: join(work, 'pg-d'),
            databaseUrl: url.toString(),
            writeTimeoutMs: 2000,
            onProgress: () => {
              if (!cut) void proxy.cut();
              cut = true;
            },
          }),
          'unavailable',
          /^restore failed, nothing was written/,
        );
      } finally {
        await proxy.close();
      }
      assert.ok(cut && !existsSync(join(work, 'pg-d')));
      const client = new pg.Client({ connectionString: target.url });
      await client.connect();
      const found = await client
        .query<{ n: number }>(
          `select count(*)::int as n from information_schema.tables where table_schema = 'public' and table_name <> 'coffer_locks'`,
        )
        .finally(() => client.end());
      const tables = found.rows[0]!.n;
      assert.equal(tables, 0, 'no table of the restore is left');
    },
  );

  test('backup CLI: an unwritable --out and a stream cut mid-way leave no file that looks complete', async () => {
    const unwritable = await runCoffer(['operator', 'backup', '--out', join(work, 'no-such-dir', 'x.cbk')], {
      COFFER_ADDR: 'http://127.0.0.1:1',
      COFFER_TOKEN: 'unused',
    });
    assert.equal(unwritable.code, 1);
    assert.match(unwritable.stderr, /^coffer: cannot write .*x\.cbk\.partial \(ENOENT\)/);

    // A server that dies mid-backup (half a real backup, then the connection drops), and a full
    // disk (the partial file is a link to /dev/full: every write fails with ENOSPC).
    const bytes = readFileSync(file);
    let whole = false;
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      if (whole) {
        res.end(bytes);
        return;
      }
      res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => setTimeout(() => res.destroy(), 20));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const env = {
      COFFER_ADDR: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
      COFFER_TOKEN: 'x',
    };
    try {
      const out = join(work, 'killed.cbk');
      const cut = await runCoffer(['operator', 'backup', '--out', out], env);
      assert.equal(cut.code, 1, cut.stderr);
      assert.match(cut.stderr, /^coffer: the backup was cut off \(terminated\); no backup was written/);
      assert.ok(!existsSync(out), 'no file');
      assert.ok(!existsSync(`${out}.partial`), `no partial: ${cut.stderr}`);

      whole = true;
      const full = join(work, 'full.cbk');
      symlinkSync('/dev/full', `${full}.partial`);
      const noSpace = await runCoffer(['operator', 'backup', '--out', full], env);
      assert.equal(noSpace.code, 1, noSpace.stderr);
      assert.match(
        noSpace.stderr,
        /^coffer: cannot write .*full\.cbk\.partial \(ENOSPC\); no backup was written/,
      );
      assert.ok(!existsSync(full) && !existsSync(`${full}.partial`));
    } finally {
      server.close();
    }
  });
});
