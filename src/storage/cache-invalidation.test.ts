import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kysely, SqliteDialect } from 'kysely';
import { DatabaseSync } from 'node:sqlite';
import { CacheInvalidation, type Invalidation, touchesCachedTables } from './cache-invalidation.ts';
import { changeStatement } from './change-log.ts';
import type { Database } from './schema.ts';
import { stmt } from './storage-types.ts';
import { NodeSqliteDatabase } from './sqlite/node-sqlite-adapter.ts';

const db = new Kysely<Database>({
  dialect: new SqliteDialect({ database: new NodeSqliteDatabase(new DatabaseSync(':memory:')) }),
});

test('a committed unit invalidates the resources its change records name, before anything else', () => {
  const hub = new CacheInvalidation();
  const seen: Invalidation[] = [];
  hub.subscribe((what) => seen.push(what));
  const change = changeStatement(db, {
    type: 'version.added',
    resource: 'projects/p/regions/r/instances/i/secrets/a',
    principal: 'service:test',
    timeMs: 1,
  });
  const update = stmt(db.updateTable('sm_secrets').set({ next_version: 2 }).where('uid', '=', 'u'));
  const before = hub.generation;
  hub.committed([update, change]);
  assert.deepEqual(seen, [['projects/p/regions/r/instances/i/secrets/a']]);
  assert.equal(hub.generation, before + 1);
});

test('a unit that writes cached tables and names no change invalidates everything; others nothing', () => {
  const hub = new CacheInvalidation();
  const seen: Invalidation[] = [];
  hub.subscribe((what) => seen.push(what));
  hub.committed([stmt(db.deleteFrom('audit_outbox').where('id', '=', 'x'))]);
  assert.deepEqual(seen, []);
  hub.committed([stmt(db.updateTable('kms_keys').set({ state: 'disabled' }).where('uid', '=', 'k'))]);
  assert.deepEqual(seen, ['all']);
});

test('the cached tables are recognised in the SQL of both dialects', () => {
  assert.equal(touchesCachedTables('update "sm_versions" set "state" = ?'), true);
  assert.equal(touchesCachedTables('insert into "projects" ("id") values ($1)'), true);
  assert.equal(touchesCachedTables('WITH x AS (SELECT 1) UPDATE sm_stages SET version = 2'), true);
  assert.equal(touchesCachedTables('insert into "sm_idempotency" ("k") values (?)'), false);
  assert.equal(touchesCachedTables('select * from "sm_secrets"'), false);
  // Service accounts are cached (an instance's KMS identity): a job that changes one drops them.
  assert.equal(touchesCachedTables('update "iam_service_accounts" set "disabled" = ?'), true);
});
