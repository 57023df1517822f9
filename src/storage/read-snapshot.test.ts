import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createTestDatabase, postgresSkipReason } from '../../test/support/postgres.ts';
import { insertSystemRecord } from './system-repo.ts';
import { openStorage } from './open-storage.ts';
import type { Storage } from './storage-types.ts';

const postgresSkip = await postgresSkipReason();

/** `readSnapshot` (backups): one consistent view while writes commit; a write through it fails. */
async function snapshotContract(storage: Storage): Promise<void> {
  const count = async (db: Storage['db']) =>
    Number(
      (
        await db
          .selectFrom('system')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  await storage.write([insertSystemRecord(storage.db, 'snap-a', '{}', 1)]);
  const before = await count(storage.db);
  const seen = await storage.readSnapshot!(async (db) => {
    const first = await count(db);
    // Committed while the snapshot is open: visible outside it, not inside.
    await storage.write([insertSystemRecord(storage.db, 'snap-b', '{}', 2)]);
    assert.equal(await count(storage.db), before + 1);
    return [first, await count(db)];
  });
  assert.deepEqual(seen, [before, before]);
  assert.equal(await count(storage.db), before + 1);
  // Read only: a write through the snapshot fails, and nothing is written.
  await assert.rejects(
    storage.readSnapshot!((db) => db.deleteFrom('system').where('name', '=', 'snap-a').execute()),
  );
  assert.equal(await count(storage.db), before + 1);
}

describe('Storage.readSnapshot', () => {
  test('SQLite', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'coffer-snapshot-'));
    const storage = await openStorage({ dataDir, writeTimeoutMs: 5000 });
    try {
      await snapshotContract(storage);
    } finally {
      await storage.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('PostgreSQL', { skip: postgresSkip ?? false }, async () => {
    const database = await createTestDatabase();
    const dataDir = mkdtempSync(join(tmpdir(), 'coffer-snapshot-'));
    const storage = await openStorage({ dataDir, databaseUrl: database.url, writeTimeoutMs: 5000 });
    try {
      await snapshotContract(storage);
    } finally {
      await storage.close();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
