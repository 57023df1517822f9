import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { NodeSqliteDatabase } from './node-sqlite-adapter.ts';

function adapter(cacheSize?: number): NodeSqliteDatabase {
  const db = new DatabaseSync(':memory:');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, flag INTEGER, data BLOB)');
  return new NodeSqliteDatabase(db, cacheSize === undefined ? undefined : { cacheSize });
}

test('statements that yield columns are readers, including writes with RETURNING', () => {
  const db = adapter();
  assert.equal(db.prepare('SELECT * FROM t').reader, true);
  assert.equal(db.prepare('INSERT INTO t (flag) VALUES (?) RETURNING id').reader, true);
  assert.equal(db.prepare('INSERT INTO t (flag) VALUES (?)').reader, false);
  db.close();
});

test('array parameters are spread, booleans bound as 1/0, rows are plain objects with Buffers', () => {
  const db = adapter();
  const inserted = db
    .prepare('INSERT INTO t (flag, data) VALUES (?, ?) RETURNING id, flag, data')
    .all([true, new Uint8Array([7])]);
  assert.deepEqual(inserted, [{ id: 1, flag: 1, data: Buffer.from([7]) }]);
  assert.equal(db.prepare('INSERT INTO t (flag) VALUES (?)').run([false]).changes, 1);
  assert.deepEqual([...db.prepare('SELECT flag FROM t ORDER BY id').iterate([])], [{ flag: 1 }, { flag: 0 }]);
  db.close();
});

test('the statement cache is bounded and keeps the most recently used', () => {
  const db = adapter(2);
  const first = db.prepare('SELECT 1');
  db.prepare('SELECT 2');
  assert.equal(db.prepare('SELECT 1'), first);
  db.prepare('SELECT 3');
  assert.equal(db.cachedStatements, 2);
  assert.equal(db.prepare('SELECT 1'), first, 'recently used survives');
  assert.notEqual(db.prepare('SELECT 2'), undefined);
  db.close();
});
