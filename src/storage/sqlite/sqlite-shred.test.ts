import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { shredding, stmt } from '../storage-types.ts';
import { openSqliteStorage } from './sqlite-storage.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'coffer-shred-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

function filesHolding(bytes: Buffer): string[] {
  return readdirSync(dataDir).filter((name) => readFileSync(join(dataDir, name)).includes(bytes));
}

describe('SQLite shredding writes', () => {
  test('a shredding unit resolves only once the WAL is truncated, waiting for a reader on an old snapshot without blocking other writes', async () => {
    const file = join(dataDir, 'coffer.db');
    const storage = await openSqliteStorage({ file, writeTimeoutMs: 10_000 });
    try {
      await storage.withLock('setup', async (trx) => {
        await trx.schema
          .createTable('system')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text')
          .addColumn('update_time', 'bigint')
          .execute();
      });
      const value = `wrapped-key-material-${'x'.repeat(64)}`;
      const insert = (name: string, text: string) =>
        stmt(storage.db.insertInto('system').values({ name, value: text, update_time: 1 }));
      await storage.write([insert('doomed', value)]);
      assert.ok(filesHolding(Buffer.from(value)).length > 0);

      // A scan in progress on the main-thread reader keeps its snapshot (and the WAL) in use.
      const scan = storage.iterateRows!(storage.db.selectFrom('system').select('name'))[Symbol.iterator]();
      scan.next();
      let shredded = false;
      const erase = storage
        .write([shredding(stmt(storage.db.deleteFrom('system').where('name', '=', 'doomed'), 'one'))])
        .then(() => {
          shredded = true;
        });
      await sleep(100);
      assert.equal(shredded, false, 'answered while the WAL still holds the erased row');
      // Other units keep committing meanwhile.
      await storage.write([insert('other', 'plain')]);
      assert.equal(shredded, false);

      scan.return?.();
      await erase;
      assert.equal(statSync(`${file}-wal`).size, 0);
      assert.deepEqual(filesHolding(Buffer.from(value)), []);
      const names = await storage.db.selectFrom('system').select('name').execute();
      assert.deepEqual(
        names.map((row) => row.name),
        ['other'],
      );
    } finally {
      await storage.close();
    }
  });
});
