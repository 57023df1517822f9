import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { auditedChange } from '../src/audit/audit-outbox.ts';
import { ManualClock } from '../src/core/clock.ts';
import { newTimeOrderedUuid } from '../src/core/ids.ts';
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

test('a background change commits together with its audit event: a rotation whose chained event is lost is recorded later', async () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 1));
  const node = await startTestNode({ clock, env: { COFFER_BACKGROUND_INTERVAL_MS: '3600000' } });
  const admin = node.adminToken!;
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: admin, ...(body !== undefined ? { body } : {}) });
  const db = node.app.storage.db;
  const jobEvents = (action: string) =>
    db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', action)
      .where('principal', 'like', 'service:%')
      .orderBy('time')
      .execute();
  try {
    const project = (await api('POST', '/v2/projects', {})).body.id;
    const region = `/v2/projects/${project}/regions/local`;
    const ring = (await api('POST', `${region}/keyrings`, { displayName: 'jobs' })).body.id;
    const keys = `${region}/keyrings/${ring}/keys`;
    const first = (await api('POST', keys, { algorithm: 'aes256-gcm96', rotationPeriod: '86400s' })).body;

    clock.advance(86_400_000);
    await node.app.runBackgroundJobs();
    const rotated = await jobEvents('kms.keys.rotate');
    assert.equal(rotated.length, 1, 'a rotation that audits normally');
    assert.equal(rotated[0]!.principal, 'service:kms');
    assert.equal(rotated[0]!.resource, first.name);
    assert.deepEqual(JSON.parse(rotated[0]!.details!), { keyVersion: 2 });
    assert.deepEqual(await db.selectFrom('audit_outbox').selectAll().execute(), []);

    // The next rotation commits, but its chained event cannot be written.
    clock.advance(86_400_000);
    const raw = new DatabaseSync(join(node.dataDir, 'coffer.db'));
    raw.exec('PRAGMA busy_timeout = 5000; ALTER TABLE audit_events RENAME TO audit_events_gone');
    await node.app.runBackgroundJobs();
    raw.exec('ALTER TABLE audit_events_gone RENAME TO audit_events');
    raw.close();
    assert.equal((await api('GET', `${keys}/${first.id}`)).body.primaryVersion, 3, 'the change committed');
    const outbox = await db.selectFrom('audit_outbox').selectAll().execute();
    assert.equal(outbox.length, 1, 'and its audit event with it');
    assert.equal(JSON.parse(outbox[0]!.event).resource, first.name);

    clock.advance(61_000);
    await node.app.runBackgroundJobs();
    assert.deepEqual(await db.selectFrom('audit_outbox').selectAll().execute(), []);
    const recovered = (await jobEvents('kms.keys.rotate')).map((row) => JSON.parse(row.details!));
    assert.deepEqual(recovered, [{ keyVersion: 2 }, { keyVersion: 3, recovered: true }]);
    assert.equal((await api('GET', '/v2/sys/audit/verify')).body.valid, true);
  } finally {
    await node.destroy();
  }
});

test('a job change that another node made first records nothing here', async () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 1));
  const node = await startTestNode({ clock, env: { COFFER_BACKGROUND_INTERVAL_MS: '3600000' } });
  const admin = node.adminToken!;
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: admin, ...(body !== undefined ? { body } : {}) });
  try {
    const project = (await api('POST', '/v2/projects', {})).body.id;
    const region = `/v2/projects/${project}/regions/local`;
    const instance = (await api('POST', `${region}/instances`, { name: 'i' })).body.id;
    await api('POST', `${region}/instances/${instance}/secrets`, { path: 'short', value: 'v', ttl: '60s' });
    clock.advance(61_000);
    // Another node purges the expired secret between this run's read of what is due and its write.
    const event = {
      id: newTimeOrderedUuid(clock.nowMs()),
      timeMs: clock.nowMs(),
      requestId: 'job-lost-race',
      action: 'secrets.secrets.expire',
      principal: 'service:secretsmanager',
      resource: 'r',
      result: 'ok' as const,
      status: 200,
    };
    const done = await node.app.secrets.runDueJobs(async (_event, change) => {
      assert.equal((await node.app.secrets.runDueJobs(runChange)).length, 1, 'the other node purged it');
      await auditedChange(node.app.audit, event, change);
    });
    assert.deepEqual(done, [], 'this run lost the compare-and-set');
    const db = node.app.storage.db;
    assert.equal(
      (await db.selectFrom('audit_events').selectAll().where('request_id', '=', 'job-lost-race').execute())
        .length,
      0,
    );
    assert.deepEqual(await db.selectFrom('audit_outbox').selectAll().execute(), []);
  } finally {
    await node.destroy();
  }
});

const runChange = (_event: unknown, change: () => Promise<void>) => change();
