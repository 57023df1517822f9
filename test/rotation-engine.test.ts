import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { CofferError } from '../src/core/errors.ts';
import type { Principal } from '../src/iam/principal.ts';
import { randomString } from '../src/rotation/random-rotator.ts';
import { RotationStopped } from '../src/rotation/rotation-service.ts';
import { claimLeaseMs, type RotatorFactory } from '../src/rotation/rotation-types.ts';
import type { RotationStep } from '../src/rotation/rotator.ts';
import { createTestDatabase, postgresSkipReason } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const enc = encodeURIComponent;
const env = { COFFER_REGIONS: 'eu01', COFFER_BACKGROUND_INTERVAL_MS: '3600000' };

/** A rotator that records what it made and what each step was given, and can fail `test`. */
function recordingRotator(path: string) {
  const seen = { created: [] as string[], set: [] as string[], test: [] as string[], finish: [] as string[] };
  const control = { failTests: 0 };
  const mine = (ctx: { secretName: string }) => ctx.secretName.endsWith(`/secrets/${enc(path)}`);
  const factory: RotatorFactory = () => ({
    async createValue(ctx) {
      const value = randomString('abcdefghijklmnopqrstuvwxyz', 24);
      if (mine(ctx)) seen.created.push(value);
      return Buffer.from(value);
    },
    async setValue(ctx, pending) {
      if (mine(ctx)) seen.set.push(pending.toString());
    },
    async testValue(ctx, pending) {
      if (!mine(ctx)) return;
      seen.test.push(pending.toString());
      if (control.failTests > 0) {
        control.failTests--;
        throw new CofferError('target_failed', 'The test target refused the new credential.');
      }
    },
    async finish(ctx, pending) {
      if (mine(ctx)) seen.finish.push(pending.toString());
    },
  });
  return { seen, control, rotators: { random: factory } };
}

/** A rotation service over a node's storage and services, as a fresh process would build it. */
function engineOf(
  node: TestNode,
  clock: ManualClock,
  rotators: Record<string, RotatorFactory>,
  stopAfter?: RotationStep,
) {
  return node.app.rotation.derive({ clock, rotators, ...(stopAfter ? { stopAfter } : {}) });
}

async function setUp(node: TestNode) {
  const token = node.adminToken!;
  const projectId = (await call(node.url, 'POST', '/v2/projects', { token, body: {} })).body.id as string;
  const base = `/v2/projects/${projectId}/regions/eu01/instances`;
  const instance = await call(node.url, 'POST', base, { token, body: { name: 'main' } });
  assert.equal(instance.status, 201, JSON.stringify(instance.body));
  return { projectId, instanceId: instance.body.id as string, base: `${base}/${instance.body.id}` };
}

describe('Rotation engine: resume, failures, backoff (SQLite)', () => {
  let node: TestNode;
  const clock = new ManualClock(Date.UTC(2026, 6, 1));
  let where: { projectId: string; instanceId: string; base: string };
  const location = () => ({ projectId: where.projectId, regionId: 'eu01' });
  const caller = () => ({
    principal: 'user:admin@coffer.internal' as Principal,
    requestId: 'test',
    events: [],
  });
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: node.adminToken!, ...(body !== undefined ? { body } : {}) });
  const secretUrl = (path: string) => `${where.base}/secrets/${enc(path)}`;
  const createSecret = async (path: string, rotation: Record<string, unknown> = {}) => {
    const res = await api('POST', `${where.base}/secrets`, {
      path,
      value: 'original',
      rotation: { rotator: { type: 'random' }, ...rotation },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  };
  const current = async (path: string) => (await api('GET', `${secretUrl(path)}/value`)).body;
  const status = async (path: string) => (await api('GET', secretUrl(path))).body.rotationStatus;

  before(async () => {
    node = await startTestNode({ env, clock });
    where = await setUp(node);
  });
  after(() => node?.destroy());

  for (const stop of ['create', 'set', 'test'] as const) {
    test(`stopped after ${stop}: a fresh service resumes at the next step, creates nothing twice, uses the same pending bytes`, async () => {
      const path = `resume/${stop}`;
      await createSecret(path);
      const { seen, rotators } = recordingRotator(path);
      const crashed = engineOf(node, clock, rotators, stop);
      await assert.rejects(crashed.rotateNow(location(), where.instanceId, path, caller()), RotationStopped);
      const next = { create: 'set', set: 'test', test: 'finish' }[stop];
      assert.deepEqual(await status(path), {
        state: 'in_progress',
        step: next,
        pendingVersion: 2,
        attempts: 0,
        lastSuccessTime: null,
        lastFailure: null,
      });
      assert.equal((await current(path)).value, 'original', 'current untouched while in progress');
      // A fresh process: on SQLite (one process per store) the stopped one's claim is void at once.
      const fresh = engineOf(node, clock, rotators);
      if (stop === 'test') {
        // The schedule picks up a rotation a stopped node left.
        assert.equal(await fresh.runDue(), 1);
      } else {
        const done = await fresh.rotateNow(location(), where.instanceId, path, caller());
        assert.equal(done.version, 2);
      }
      assert.equal(seen.created.length, 1, 'created once');
      const [made] = seen.created;
      assert.deepEqual(seen.set, [made]);
      assert.deepEqual(seen.test, [made]);
      assert.deepEqual(seen.finish, [made]);
      const value = await current(path);
      assert.deepEqual([value.value, value.version], [made, 2]);
      const versions = (await api('GET', `${secretUrl(path)}/versions`)).body;
      assert.equal((versions.items ?? versions).length, 2, 'exactly one new version');
      assert.equal((await status(path)).state, 'idle');
    });
  }

  test('a failed test leaves current untouched, records the failure and backs off; the retry finishes', async () => {
    const path = 'failing';
    await createSecret(path);
    const { seen, control, rotators } = recordingRotator(path);
    control.failTests = 1;
    const engine = engineOf(node, clock, rotators);
    await assert.rejects(
      engine.rotateNow(location(), where.instanceId, path, caller()),
      (err) => err instanceof CofferError && err.code === 'target_failed',
    );
    const now = clock.nowMs();
    assert.deepEqual(await status(path), {
      state: 'in_progress',
      step: 'test',
      pendingVersion: 2,
      attempts: 1,
      lastSuccessTime: null,
      lastFailure: {
        time: new Date(now).toISOString(),
        step: 'test',
        message: 'The test target refused the new credential.',
      },
      nextAttemptTime: new Date(now + 30_000).toISOString(),
    });
    const value = await current(path);
    assert.deepEqual([value.value, value.version], ['original', 1]);
    assert.equal(await engine.runDue(), 0, 'not before the backoff');
    clock.advance(30_000);
    assert.equal(await engine.runDue(), 1);
    assert.equal(seen.created.length, 1);
    assert.equal((await current(path)).value, seen.created[0]);
    const after = await status(path);
    assert.equal(after.state, 'idle');
    assert.equal(after.attempts, 0);
    assert.equal(after.lastFailure.step, 'test', 'the last failure stays visible');
    const failed = await node.app.storage.db
      .selectFrom('audit_events')
      .select(['details', 'result'])
      .where('action', '=', 'secrets.secrets.rotate')
      .where('result', '=', 'error')
      .execute();
    assert.ok(
      failed.some(
        (e) => JSON.parse(e.details!).step === 'test' && JSON.parse(e.details!).result === 'failed',
      ),
    );
  });

  test('a value put during the rotation supersedes it at finish: current stays the put version, pending stays disabled', async () => {
    const path = 'superseded';
    await createSecret(path);
    const { seen, rotators } = recordingRotator(path);
    const crashed = engineOf(node, clock, rotators, 'test');
    await assert.rejects(crashed.rotateNow(location(), where.instanceId, path, caller()), RotationStopped);
    const put = await api('PUT', `${secretUrl(path)}/value`, { value: 'deployed' });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    const fresh = engineOf(node, clock, rotators);
    await assert.rejects(fresh.rotateNow(location(), where.instanceId, path, caller()), (err) => {
      assert.ok(err instanceof CofferError && err.code === 'conflict', String(err));
      return true;
    });
    assert.deepEqual(seen.finish, [], 'the target is not told a superseded rotation is done');
    const latest = await current(path);
    assert.deepEqual([latest.value, latest.version], ['deployed', 3]);
    assert.ok(latest.stages.includes('current'), JSON.stringify(latest));
    const pending = (await api('GET', `${secretUrl(path)}/versions/2`)).body;
    assert.equal(pending.state, 'disabled');
    const shown = await status(path);
    assert.equal(shown.state, 'idle');
    assert.deepEqual(
      [shown.lastFailure.step, shown.lastFailure.message],
      ['finish', 'superseded by version 3 put during the rotation'],
    );
    const events = await node.app.storage.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'secrets.secrets.rotate')
      .where('resource', 'like', `%/secrets/${path}`)
      .execute();
    assert.ok(
      events.some(
        (e) => /"step":"finish"/.test(String(e.details)) && /"result":"failed"/.test(String(e.details)),
      ),
      'the finish step is audited as failed',
    );
  });

  test('after 10 failures in a row the rotation is failed and the schedule stops; a manual rotate finishes it', async () => {
    const path = 'hopeless';
    await createSecret(path);
    const { seen, control, rotators } = recordingRotator(path);
    control.failTests = 1000;
    const engine = engineOf(node, clock, rotators);
    await assert.rejects(engine.rotateNow(location(), where.instanceId, path, caller()));
    const waits: number[] = [];
    for (let attempt = 2; attempt <= 10; attempt++) {
      const before = await status(path);
      waits.push(Date.parse(before.nextAttemptTime) - clock.nowMs());
      clock.advance(Date.parse(before.nextAttemptTime) - clock.nowMs());
      await engine.runDue();
    }
    assert.deepEqual(
      waits.map((ms) => ms / 1000),
      [30, 60, 120, 240, 480, 960, 1920, 3600, 3600],
    );
    const failed = await status(path);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.attempts, 10);
    assert.equal(failed.nextAttemptTime, undefined);
    clock.advance(86_400_000);
    await engine.runDue();
    assert.equal(seen.test.length, 10, 'no automatic retry once failed');
    control.failTests = 0;
    const done = await engine.rotateNow(location(), where.instanceId, path, caller());
    assert.equal(done.version, 2);
    assert.equal(seen.created.length, 1, 'the same pending value, never a second one');
    assert.equal((await current(path)).value, seen.created[0]);
  });

  test('metrics count steps and runs by outcome and time the runs that moved current (M4, M10)', async () => {
    const scraped = await node.server.inject({
      method: 'GET',
      url: '/v2/sys/metrics',
      headers: { authorization: `Bearer ${node.adminToken}` },
    });
    assert.equal(scraped.statusCode, 200, scraped.body);
    const sample = (series: string) => {
      const line = scraped.body.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.split(' ')[1]);
    };
    assert.ok(sample('coffer_rotation_steps_total{step="test",result="failed"}')! >= 11);
    assert.ok(sample('coffer_rotation_steps_total{step="finish",result="ok"}')! >= 5);
    assert.ok(sample('coffer_rotations_total{trigger="manual",result="ok"}')! >= 3);
    assert.ok(sample('coffer_rotations_total{trigger="scheduled",result="failed"}')! >= 9);
    assert.ok(sample('coffer_rotation_duration_seconds_count{trigger="manual"}')! >= 3);
    assert.equal(
      /coffer_rotation[^\n]*(resume|failing|hopeless)/.test(scraped.body),
      false,
      'no secret in labels',
    );
  });
});

describe('Rotation engine on PostgreSQL: two nodes', { skip: postgresSkip ?? false }, () => {
  test('two nodes racing on one due rotation: exactly one rotates, once', async () => {
    const database = await createTestDatabase();
    const clockA = new ManualClock(Date.UTC(2026, 6, 1));
    const clockB = new ManualClock(Date.UTC(2026, 6, 1));
    const nodeEnv = { ...env, COFFER_DATABASE_URL: database.url };
    const a = await startTestNode({ env: nodeEnv, clock: clockA });
    const dirB = mkdtempSync(join(tmpdir(), 'coffer-node-b-'));
    copyFileSync(join(a.dataDir, 'seal.key'), join(dirB, 'seal.key'));
    const b = await startTestNode({ env: nodeEnv, clock: clockB, dataDir: dirB }).catch(async (err) => {
      await a.destroy();
      throw err;
    });
    try {
      const where = await setUp(a);
      const token = a.adminToken!;
      const paths = ['race/one', 'race/two', 'race/three'];
      for (const path of paths) {
        const res = await call(a.url, 'POST', `${where.base}/secrets`, {
          token,
          body: { path, value: 'v1', rotation: { period: '3600s', rotator: { type: 'random' } } },
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
      }
      clockA.advance(3_600_001);
      clockB.advance(3_600_001);
      const runs = await Promise.all([
        a.app.rotation.runDue(),
        b.app.rotation.runDue(),
        a.app.rotation.runDue(),
        b.app.rotation.runDue(),
      ]);
      assert.equal(
        runs.reduce((x, y) => x + y),
        paths.length,
        `each due rotation ran once: ${runs}`,
      );
      for (const path of paths) {
        const versions = await a.app.storage.db
          .selectFrom('sm_versions')
          .innerJoin('sm_secrets', 'sm_secrets.uid', 'sm_versions.secret_uid')
          .select('sm_versions.version')
          .where('sm_secrets.path', '=', path)
          .execute();
        assert.deepEqual(versions.map((v) => Number(v.version)).sort(), [1, 2], path);
        const read = await call(b.url, 'GET', `${where.base}/secrets/${enc(path)}/value`, { token });
        assert.equal(read.body.version, 2);
      }
      const creates = await a.app.storage.db
        .selectFrom('audit_events')
        .select('details')
        .where('action', '=', 'secrets.secrets.rotate')
        .execute();
      assert.equal(creates.filter((e) => JSON.parse(e.details!).step === 'create').length, paths.length);

      // A node stopped mid-rotation: on shared storage its claim holds until the lease lapses.
      const res = await call(a.url, 'POST', `${where.base}/secrets`, {
        token,
        body: { path: 'leased', value: 'v1', rotation: { rotator: { type: 'random' } } },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const { seen, rotators } = recordingRotator('leased');
      const location = { projectId: where.projectId, regionId: 'eu01' };
      const caller = () => ({
        principal: 'user:admin@coffer.internal' as Principal,
        requestId: 't',
        events: [],
      });
      await assert.rejects(
        engineOf(a, clockA, rotators, 'set').rotateNow(location, where.instanceId, 'leased', caller()),
        RotationStopped,
      );
      const other = engineOf(b, clockB, rotators);
      await assert.rejects(
        other.rotateNow(location, where.instanceId, 'leased', caller()),
        (err) => err instanceof CofferError && err.code === 'conflict',
      );
      assert.equal(await other.runDue(), 0);
      clockB.advance(claimLeaseMs + 1);
      assert.equal(await other.runDue(), 1);
      assert.deepEqual([seen.created.length, seen.test, seen.finish], [1, seen.created, seen.created]);
    } finally {
      await b.destroy();
      await a.destroy();
      await database.drop();
    }
  });
});
