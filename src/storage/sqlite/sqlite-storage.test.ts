import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import { startWriteLoop } from '../../../test/support/write-loop.ts';
import { isCofferError } from '../../core/errors.ts';
import { openStorage } from '../open-storage.ts';
import { stmt } from '../storage-types.ts';
import { openSqliteStorage } from './sqlite-storage.ts';

// What only the embedded engine has: its writer thread, the data dir lock, crash durability.
// The contract both engines share is in ../storage-conformance.test.ts.

const dataDirs: string[] = [];
function sqliteDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-sqlite-'));
  dataDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

function unavailable(err: unknown): boolean {
  assert.ok(isCofferError(err, 'storage_unavailable'), `expected storage_unavailable, got ${String(err)}`);
  return true;
}

describe('SQLite storage', () => {
  test('a write the writer cannot commit within writeTimeoutMs rejects with storage_unavailable, then recovers', async () => {
    const dataDir = sqliteDataDir();
    const file = join(dataDir, 'coffer.db');
    const storage = await openSqliteStorage({ file, writeTimeoutMs: 150, busyTimeoutMs: 10_000 });
    const insert = (name: string) =>
      stmt(storage.db.insertInto('system').values({ name, value: '{}', update_time: 1 }));
    await storage.withLock('setup', async (trx) => {
      await trx.schema
        .createTable('system')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text')
        .addColumn('update_time', 'bigint')
        .execute();
    });
    // Another connection holds the write lock: the writer thread waits in busy_timeout like on a stuck disk.
    const blocker = new DatabaseSync(file);
    blocker.exec('BEGIN IMMEDIATE');
    try {
      await assert.rejects(storage.write([insert('stuck')]), unavailable);
      assert.equal(storage.health?.(), 'failing');
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    await storage.write([insert('after')]);
    assert.equal(storage.health?.(), 'ok');
    await storage.close();
  });

  test('a second open of the same data dir in one process is refused', async () => {
    const dataDir = sqliteDataDir();
    const storage = await openStorage({ dataDir, writeTimeoutMs: 5000 });
    try {
      await assert.rejects(openStorage({ dataDir, writeTimeoutMs: 5000 }), (err: unknown) => {
        unavailable(err);
        assert.match((err as Error).message, /already open in this process/);
        return true;
      });
    } finally {
      await storage.close();
    }
    assert.equal(existsSync(join(dataDir, 'coffer.pid')), false, 'close releases the pid file');
  });

  test('a second Coffer server on the same data dir is refused with its pid', async () => {
    const dataDir = sqliteDataDir();
    const child = startWriteLoop(dataDir);
    try {
      await child.ready;
      await assert.rejects(openStorage({ dataDir, writeTimeoutMs: 5000 }), (err: unknown) => {
        unavailable(err);
        assert.match(
          (err as Error).message,
          new RegExp(`another Coffer server \\(pid ${child.process.pid} on host `),
        );
        return true;
      });
    } finally {
      child.process.kill('SIGKILL');
      await child.exited;
    }
  });

  test('a pid file left by a dead process is rewritten with our pid and removed on close', async () => {
    const dataDir = sqliteDataDir();
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => dead.on('exit', resolve));
    writeFileSync(join(dataDir, 'coffer.pid'), `${dead.pid}\n`);
    const storage = await openStorage({ dataDir, writeTimeoutMs: 5000 });
    assert.equal(readFileSync(join(dataDir, 'coffer.pid'), 'utf8').split('\n')[0], String(process.pid));
    await storage.close();
    assert.equal(existsSync(join(dataDir, 'coffer.pid')), false);
  });

  test('every write acknowledged before a SIGKILL is present after restart', async () => {
    const dataDir = sqliteDataDir();
    const child = startWriteLoop(dataDir);
    await child.ready;
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.process.kill('SIGKILL');
    await child.exited;
    const acknowledged = child.acknowledged();
    assert.ok(acknowledged.length > 0, 'the child acknowledged some writes before it was killed');
    const storage = await openStorage({ dataDir, writeTimeoutMs: 5000 });
    try {
      const names = new Set(
        (await storage.db.selectFrom('system').select('name').where('name', 'like', 'crash-%').execute()).map(
          (r) => r.name,
        ),
      );
      const lost = acknowledged.filter((n) => !names.has(`crash-${n}`));
      assert.deepEqual(lost, [], `acknowledged but lost after SIGKILL (of ${acknowledged.length})`);
    } finally {
      await storage.close();
    }
  });
});
