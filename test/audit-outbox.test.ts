import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { call, startTestNode } from './support/test-node.ts';

test('a change whose audit event cannot be chained is still audited: the event committed with it is recorded later', async () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 1));
  const node = await startTestNode({ clock, env: { COFFER_BACKGROUND_INTERVAL_MS: '3600000' } });
  const admin = node.adminToken!;
  const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    call(node.url, method, path, { token: admin, ...(body !== undefined ? { body } : {}), headers });
  const db = node.app.storage.db;
  try {
    const project = (await api('POST', '/v2/projects', {})).body.id;
    const region = `/v2/projects/${project}/regions/local`;
    const instance = (await api('POST', `${region}/instances`, { name: 'i' })).body.id;
    const secret = `${region}/instances/${instance}/secrets/db`;
    await api('POST', `${region}/instances/${instance}/secrets`, { path: 'db', value: 'one' });
    assert.deepEqual(
      await db.selectFrom('audit_outbox').selectAll().execute(),
      [],
      'normally the chained event replaces the outbox row',
    );

    const raw = new DatabaseSync(join(node.dataDir, 'coffer.db'));
    raw.exec('PRAGMA busy_timeout = 5000; ALTER TABLE audit_events RENAME TO audit_events_gone');
    const put = await api('PUT', `${secret}/value`, { value: 'two' }, { 'x-request-id': 'lost-audit' });
    raw.exec('ALTER TABLE audit_events_gone RENAME TO audit_events');
    raw.close();
    assert.equal(put.status, 503);
    assert.equal(put.body.error.code, 'audit_unavailable');
    const versions = await db.selectFrom('sm_versions').select('version').execute();
    assert.equal(versions.length, 2, 'the change itself committed');
    const outbox = await db.selectFrom('audit_outbox').selectAll().execute();
    assert.equal(outbox.length, 1, 'and its audit event with it');

    await node.app.runBackgroundJobs();
    assert.equal(
      (await db.selectFrom('audit_outbox').selectAll().execute()).length,
      1,
      'a fresh row waits for its request',
    );
    clock.advance(61_000);
    await node.app.runBackgroundJobs();
    assert.deepEqual(await db.selectFrom('audit_outbox').selectAll().execute(), []);
    const recorded = await db
      .selectFrom('audit_events')
      .selectAll()
      .where('request_id', '=', 'lost-audit')
      .execute();
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0]!.action, 'secrets.put_value');
    assert.equal(JSON.parse(recorded[0]!.details!).recovered, true);
    assert.equal((await api('GET', '/v2/sys/audit/verify')).body.valid, true);
  } finally {
    await node.destroy();
  }
});
