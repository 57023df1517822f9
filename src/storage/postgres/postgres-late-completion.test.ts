// A PostgreSQL unit rejected at its deadline (outcome unknown: COMMIT may have been sent) reports
// its end when it settles (Storage.onLateCompletion), so the node's caches are invalidated again
// after anything a read refilled in between (docs/decisions/0007-metadata-cache.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { createTestDatabase, postgresSkipReason } from '../../../test/support/postgres.ts';
import { openStorage } from '../open-storage.ts';
import { stmt } from '../storage-types.ts';
import { openPostgresStorage } from './postgres-storage.ts';

const pgSkip = await postgresSkipReason();

test(
  'a write that ends after its deadline is reported as a late completion',
  { skip: pgSkip ?? false },
  async () => {
    const database = await createTestDatabase();
    const storage = await openStorage({ databaseUrl: database.url, dataDir: '.', writeTimeoutMs: 200 });
    try {
      let late = 0;
      assert.equal(typeof storage.onLateCompletion, 'function');
      storage.onLateCompletion!(() => late++);
      const touch = () =>
        stmt(storage.db.updateTable('system').set({ update_time: 2 }).where('name', '=', 'late'), 'one');
      await storage.write([
        stmt(storage.db.insertInto('system').values({ name: 'late', value: '{}', update_time: 1 })),
      ]);
      await storage.write([touch()]);
      assert.equal(late, 0, 'a write answered in time is not reported');
      const blocker = await openPostgresStorage({ url: database.url, writeTimeoutMs: 5000 });
      try {
        await blocker.db.connection().execute(async (conn) => {
          await sql`begin`.execute(conn);
          await sql`select name from system where name = 'late' for update`.execute(conn);
          await assert.rejects(storage.write([touch()]), /may or may not be applied/);
          await sql`rollback`.execute(conn);
        });
      } finally {
        await blocker.close();
      }
      for (let i = 0; i < 50 && late === 0; i++) await sleep(20);
      assert.equal(late, 1, 'the unit rejected at its deadline was reported when it ended');
    } finally {
      await storage.close();
      await database.drop();
    }
  },
);
