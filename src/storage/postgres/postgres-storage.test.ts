import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { createTestDatabase, postgresSkipReason, withAdmin } from '../../../test/support/postgres.ts';
import { isCofferError } from '../../core/errors.ts';
import { runMigrations } from '../migrate.ts';
import { migrations } from '../migrations/index.ts';
import { openStorage } from '../open-storage.ts';
import { stmt } from '../storage-types.ts';
import { openPostgresStorage } from './postgres-storage.ts';

// What only the cluster engine has: several nodes on one database, connection loss, error mapping.
// The contract both engines share is in ../storage-conformance.test.ts.

const pgSkip = await postgresSkipReason();
const migratedIds = migrations.map((m) => m.id);

function unavailable(err: unknown): boolean {
  assert.ok(isCofferError(err, 'storage_unavailable'), `expected storage_unavailable, got ${String(err)}`);
  return true;
}

describe('PostgreSQL storage', () => {
  test('an unreachable database fails with storage_unavailable naming host:port/db, never the password', async () => {
    const url = 'postgres://coffer:s3cret-Pa55@127.0.0.1:1/coffer_prod';
    await assert.rejects(
      openStorage({ databaseUrl: url, dataDir: '.', writeTimeoutMs: 2000 }),
      (err: unknown) => {
        unavailable(err);
        const message = (err as Error).message;
        assert.match(message, /127\.0\.0\.1:1\/coffer_prod/);
        assert.doesNotMatch(message, /s3cret-Pa55/);
        assert.doesNotMatch(message, /postgres:\/\//);
        return true;
      },
    );
  });

  test(
    'two nodes migrating one database at once both start and apply each migration once',
    {
      skip: pgSkip ?? false,
    },
    async () => {
      const database = await createTestDatabase();
      try {
        const nodes = await Promise.all([
          openPostgresStorage({ url: database.url, writeTimeoutMs: 5000 }),
          openPostgresStorage({ url: database.url, writeTimeoutMs: 5000 }),
        ]);
        try {
          const applied = await Promise.all(nodes.map((node) => runMigrations(node)));
          assert.deepEqual(applied.flat().sort(), migratedIds);
          const rows = await nodes[0]!.db.selectFrom('coffer_migrations').select('id').execute();
          assert.deepEqual(
            rows.map((r) => r.id),
            migratedIds,
          );
        } finally {
          await Promise.all(nodes.map((node) => node.close()));
        }
      } finally {
        await database.drop();
      }
    },
  );

  test(
    'a write blocked past writeTimeoutMs rejects with storage_unavailable, then writes work again',
    {
      skip: pgSkip ?? false,
    },
    async () => {
      const database = await createTestDatabase();
      const storage = await openStorage({ databaseUrl: database.url, dataDir: '.', writeTimeoutMs: 200 });
      const touch = () =>
        stmt(storage.db.updateTable('system').set({ update_time: 2 }).where('name', '=', 'blocked'), 'one');
      try {
        await storage.write([
          stmt(storage.db.insertInto('system').values({ name: 'blocked', value: '{}', update_time: 1 })),
        ]);
        const blocker = await openPostgresStorage({ url: database.url, writeTimeoutMs: 5000 });
        try {
          // Another node holds the row lock, as a stuck server would keep the write from committing.
          await blocker.db.connection().execute(async (conn) => {
            await sql`begin`.execute(conn);
            await sql`select name from system where name = 'blocked' for update`.execute(conn);
            await assert.rejects(storage.write([touch()]), unavailable);
            assert.equal(storage.health?.(), 'failing');
            await sql`rollback`.execute(conn);
          });
        } finally {
          await blocker.close();
        }
        await storage.write([touch()]);
        assert.equal(storage.health?.(), 'ok');
      } finally {
        await storage.close();
        await database.drop();
      }
    },
  );

  test(
    'the pool reconnects after the server drops every connection, without crashing',
    {
      skip: pgSkip ?? false,
    },
    async () => {
      const database = await createTestDatabase();
      const storage = await openStorage({ databaseUrl: database.url, dataDir: '.', writeTimeoutMs: 2000 });
      try {
        await storage.ping();
        await withAdmin((client) =>
          client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
            database.name,
          ]),
        );
        // Connections that died may fail one attempt each; the pool replaces them.
        let written = false;
        for (let attempt = 0; attempt < 20 && !written; attempt++) {
          try {
            await storage.write([
              stmt(
                storage.db
                  .insertInto('system')
                  .values({ name: `back-${attempt}`, value: '{}', update_time: 1 }),
              ),
            ]);
            written = true;
          } catch (err) {
            unavailable(err);
          }
        }
        assert.ok(written, 'a write succeeded after the connections were dropped');
        await storage.ping();
        assert.equal(storage.health?.(), 'ok');
      } finally {
        await storage.close();
        await database.drop();
      }
    },
  );

  test(
    'a write the database refuses for lack of resources (disk full) keeps health failing though pings answer, until a write commits',
    { skip: pgSkip ?? false },
    async () => {
      const database = await createTestDatabase();
      const storage = await openPostgresStorage({ url: database.url, writeTimeoutMs: 5000 });
      try {
        await runMigrations(storage);
        // The SQLSTATE PostgreSQL raises when it cannot extend a file: 53100 disk_full.
        const diskFull = {
          sql: `DO $$ BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = '53100'; END $$`,
          parameters: [],
        };
        await assert.rejects(storage.write([diskFull]), unavailable);
        assert.equal(storage.health?.(), 'failing');
        await storage.ping();
        assert.equal(storage.health?.(), 'failing', 'a ping that answers does not hide a refused write');
        await storage.write([
          stmt(storage.db.insertInto('system').values({ name: 'after', value: '{}', update_time: 1 })),
        ]);
        assert.equal(storage.health?.(), 'ok');
      } finally {
        await storage.close();
        await database.drop();
      }
    },
  );
});
