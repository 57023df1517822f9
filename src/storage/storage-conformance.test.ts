import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../../test/support/postgres.ts';
import { isCofferError } from '../core/errors.ts';
import { runMigrations } from './migrate.ts';
import { migrations } from './migrations/index.ts';
import { openStorage } from './open-storage.ts';
import { openPostgresStorage } from './postgres/postgres-storage.ts';
import { type Storage, stmt, WriteRejected } from './storage-types.ts';

/** How a suite gets storages of one engine. */
interface Harness {
  /** Opens (and migrates) the storage the suite shares. */
  open(): Promise<Storage>;
  /** A second storage on the same database, as a second node would have; SQLite has only one. */
  openPeer(): Promise<Storage | undefined>;
  /** Removes what `open` made. */
  cleanup(): Promise<void>;
}

const migratedIds = migrations.map((m) => m.id);

function projectRow(id: string, nowMs = 1_767_225_600_000) {
  return {
    id,
    display_name: `project ${id}`,
    feature_secrets: 1,
    feature_kms: 0,
    etag: 'e1',
    create_time: nowMs,
    update_time: nowMs,
    aws_account_id: null,
  };
}

function rejection(reason: 'expectation' | 'unique', statementIndex: number) {
  return (err: unknown) => {
    assert.ok(err instanceof WriteRejected, `expected WriteRejected, got ${String(err)}`);
    assert.equal(err.reason, reason);
    assert.equal(err.statementIndex, statementIndex);
    return true;
  };
}

function unavailable(err: unknown): boolean {
  assert.ok(isCofferError(err, 'storage_unavailable'), `expected storage_unavailable, got ${String(err)}`);
  return true;
}

/** The contract every engine passes (STYLE: one conformance suite). */
function conformance(engine: string, harness: Harness, skip: string | undefined): void {
  describe(`storage conformance on ${engine}`, { skip: skip ?? false }, () => {
    let storage: Storage;
    before(async () => {
      storage = await harness.open();
    });
    after(async () => {
      await storage?.close();
      await harness.cleanup();
    });

    const insertProject = (id: string, expect?: 'one' | 'some') =>
      stmt(storage.db.insertInto('projects').values(projectRow(id)), expect);
    const projectExists = async (id: string) =>
      (await storage.db.selectFrom('projects').select('id').where('id', '=', id).executeTakeFirst()) !==
      undefined;

    test('a written row reads back through db, times as numbers and booleans as 0/1', async () => {
      const id = randomUUID();
      await storage.write([insertProject(id, 'one')]);
      const row = await storage.db
        .selectFrom('projects')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(row, projectRow(id));
      assert.equal(typeof row.create_time, 'number');
    });

    test('booleans bound as parameters are stored as 1 and 0', async () => {
      const id = randomUUID();
      const values = { ...projectRow(id), feature_secrets: true, feature_kms: false };
      // The schema says number; callers that pass booleans get the 0/1 convention.
      await storage.write([
        stmt(storage.db.insertInto('projects').values(values as unknown as ReturnType<typeof projectRow>)),
      ]);
      const row = await storage.db
        .selectFrom('projects')
        .select(['feature_secrets', 'feature_kms'])
        .where('id', '=', id)
        .where('feature_secrets', '=', true as unknown as number)
        .executeTakeFirstOrThrow();
      assert.deepEqual(row, { feature_secrets: 1, feature_kms: 0 });
    });

    test('binary values round-trip byte for byte as Buffers', async () => {
      const id = randomUUID();
      const hash = Buffer.concat([Buffer.from([0, 255, 0]), randomBytes(61)]);
      await storage.write([
        stmt(
          storage.db.insertInto('tokens').values({
            id,
            principal: 'user:a@example.com',
            token_hash: hash,
            create_time: 1,
            expire_time: null,
            revoked: 0,
          }),
        ),
      ]);
      const row = await storage.db
        .selectFrom('tokens')
        .select('token_hash')
        .where('token_hash', '=', hash)
        .executeTakeFirstOrThrow();
      assert.ok(Buffer.isBuffer(row.token_hash));
      assert.deepEqual(row.token_hash, hash);
    });

    test('write resolves with the rows each statement returned', async () => {
      const [a, b] = [randomUUID(), randomUUID()];
      const rows = await storage.write([
        stmt(storage.db.insertInto('projects').values(projectRow(a)).returning(['id', 'etag']), 'one'),
        insertProject(b, 'one'),
        stmt(
          storage.db.updateTable('projects').set({ etag: 'e2' }).where('id', 'in', [a, b]).returning('id'),
          'some',
        ),
      ]);
      assert.equal(rows.length, 3);
      assert.deepEqual(rows[0], [{ id: a, etag: 'e1' }]);
      assert.deepEqual(rows[1], []);
      assert.deepEqual(new Set((rows[2] ?? []).map((r) => (r as { id: string }).id)), new Set([a, b]));
    });

    test('an empty unit resolves with no rows', async () => {
      assert.deepEqual(await storage.write([]), []);
    });

    test('a failed expectation rolls back its whole unit and leaves concurrent units committed', async () => {
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      const missing = storage.db.updateTable('projects').set({ etag: 'x' }).where('id', '=', randomUUID());
      const [first, failing, last] = await Promise.allSettled([
        storage.write([insertProject(a)]),
        storage.write([insertProject(b), stmt(missing, 'one')]),
        storage.write([insertProject(c)]),
      ]);
      assert.equal(first.status, 'fulfilled');
      assert.equal(last.status, 'fulfilled');
      assert.equal(failing.status, 'rejected');
      rejection('expectation', 1)((failing as PromiseRejectedResult).reason);
      assert.equal(await projectExists(a), true);
      assert.equal(await projectExists(b), false);
      assert.equal(await projectExists(c), true);
    });

    test("expect 'some' accepts several rows and refuses none; RETURNING rows count as changed rows", async () => {
      const [a, b] = [randomUUID(), randomUUID()];
      await storage.write([insertProject(a), insertProject(b)]);
      const both = storage.db.updateTable('projects').set({ etag: 'e3' }).where('id', 'in', [a, b]);
      await storage.write([stmt(both, 'some')]);
      await assert.rejects(storage.write([stmt(both, 'one')]), rejection('expectation', 0));
      const none = storage.db.deleteFrom('projects').where('id', '=', randomUUID()).returning('id');
      await assert.rejects(storage.write([stmt(none, 'some')]), rejection('expectation', 0));
    });

    test("a unique violation rejects the unit with WriteRejected('unique') and writes nothing of it", async () => {
      const [a, b] = [randomUUID(), randomUUID()];
      await storage.write([insertProject(a)]);
      await assert.rejects(storage.write([insertProject(b), insertProject(a)]), rejection('unique', 1));
      assert.equal(await projectExists(b), false);
    });

    test('200 concurrent writes are all acknowledged and all present', async () => {
      const ids = Array.from({ length: 200 }, () => randomUUID());
      await Promise.all(ids.map((id) => storage.write([insertProject(id, 'one')])));
      const stored = await storage.db.selectFrom('projects').select('id').where('id', 'in', ids).execute();
      assert.equal(stored.length, 200);
    });

    test('migrations are idempotent: running them again applies nothing', async () => {
      assert.deepEqual(await runMigrations(storage), []);
      assert.deepEqual(await runMigrations(storage), []);
      const applied = await storage.db.selectFrom('coffer_migrations').select('id').orderBy('id').execute();
      assert.deepEqual(
        applied.map((r) => r.id),
        migratedIds,
      );
    });

    test('withLock lets one holder at a time in, also across nodes', async () => {
      const peer = (await harness.openPeer()) ?? storage;
      const events: string[] = [];
      const hold = (who: string, on: Storage) =>
        on.withLock('conformance', async (trx) => {
          events.push(`${who} in`);
          await trx.selectFrom('coffer_locks').selectAll().execute();
          await new Promise((resolve) => setTimeout(resolve, 30));
          events.push(`${who} out`);
        });
      try {
        await Promise.all([hold('a', storage), hold('b', peer), hold('c', storage)]);
      } finally {
        if (peer !== storage) await peer.close();
      }
      for (let i = 0; i < events.length; i += 2) {
        assert.equal(events[i]?.replace(' in', ' out'), events[i + 1], `interleaved: ${events.join(', ')}`);
      }
    });

    test('withLock commits what fn wrote, and rolls it back when fn throws', async () => {
      const [kept, dropped] = [randomUUID(), randomUUID()];
      await storage.withLock('conformance', async (trx) => {
        await trx.insertInto('projects').values(projectRow(kept)).execute();
      });
      await assert.rejects(
        storage.withLock('conformance', async (trx) => {
          await trx.insertInto('projects').values(projectRow(dropped)).execute();
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      assert.equal(await projectExists(kept), true);
      assert.equal(await projectExists(dropped), false);
    });

    test('ping resolves and health is ok on a working database', async () => {
      await storage.ping();
      assert.equal(storage.health?.(), 'ok');
    });

    test('a closed storage refuses writes with storage_unavailable', async () => {
      const other = (await harness.openPeer()) ?? undefined;
      // SQLite has no peer: closing the shared storage here would end the suite, so reopen it after.
      const target = other ?? storage;
      await target.close();
      await assert.rejects(target.write([insertProject(randomUUID())]), unavailable);
      if (other === undefined) storage = await harness.open();
    });
  });
}

// SQLite: always.
const sqliteDirs: string[] = [];
function sqliteDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-storage-'));
  sqliteDirs.push(dir);
  return dir;
}
let sqliteSuiteDir: string | undefined;
conformance(
  'SQLite',
  {
    open: async () => {
      sqliteSuiteDir ??= sqliteDataDir();
      return openStorage({ dataDir: sqliteSuiteDir, writeTimeoutMs: 5000 });
    },
    openPeer: async () => undefined,
    cleanup: async () => undefined,
  },
  undefined,
);
after(() => {
  for (const dir of sqliteDirs) rmSync(dir, { recursive: true, force: true });
});

// PostgreSQL: mandatory in CI, skipped with the reason elsewhere when no server answers.
const pgSkip = await postgresSkipReason();
let pgSuiteDb: TestDatabase | undefined;
conformance(
  'PostgreSQL',
  {
    open: async () => {
      pgSuiteDb ??= await createTestDatabase();
      return openStorage({ databaseUrl: pgSuiteDb.url, dataDir: '.', writeTimeoutMs: 5000 });
    },
    openPeer: async () =>
      pgSuiteDb === undefined ? undefined : openPostgresStorage({ url: pgSuiteDb.url, writeTimeoutMs: 5000 }),
    cleanup: async () => {
      await pgSuiteDb?.drop();
    },
  },
  pgSkip,
);
