import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { stmt } from '../src/storage/storage-types.ts';
import { cofferBin } from './support/cli-process.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

/**
 * Instance key switches (issue 12, security 9 and 12): the rewrap job acts as the service accounts
 * that really use each key, re-checks them before each batch (pausing with a clear error, resuming
 * once fixed), and writes nothing once it lost its lease; moving an instance off its key needs the
 * right to use that key.
 */
describe('instance key switches and their rewrap', () => {
  const clock = new ManualClock(Date.UTC(2026, 8, 1));
  let node: TestNode;
  let project: string;
  let ring: string;
  const keys: Record<string, { id: string; name: string }> = {};
  const accounts: Record<string, string> = {};
  const api = (method: string, path: string, body?: unknown, token?: string) =>
    call(node.url, method, path, {
      token: token ?? node.adminToken,
      ...(body !== undefined ? { body } : {}),
    });
  const addBinding = async (prefix: string, role: string, member: string) => {
    const res = await api('POST', `${prefix}/iam-policy:add-binding`, { role, member });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  };
  const removeBinding = async (prefix: string, role: string, member: string) => {
    const res = await api('POST', `${prefix}/iam-policy:remove-binding`, { role, member });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  };
  const keyPath = (k: string) => `/v2/projects/${project}/regions/local/keyrings/${ring}/keys/${keys[k]!.id}`;
  const kmsKey = (k: string, sa: string) => ({
    regionId: 'local',
    projectId: project,
    serviceAccountEmail: accounts[sa],
    keyRingId: ring,
    keyId: keys[k]!.id,
    keyVersion: 1,
  });
  const newInstance = async (name: string, k: string, sa: string, secrets: number) => {
    const created = await api('POST', `/v2/projects/${project}/regions/local/instances`, {
      name,
      kmsKey: kmsKey(k, sa),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const base = `/v2/projects/${project}/regions/local/instances/${created.body.id}`;
    for (let i = 0; i < secrets; i++)
      assert.equal((await api('POST', `${base}/secrets`, { path: `s${i}`, value: `v${i}` })).status, 201);
    return base;
  };
  const operation = (id: string) => api('GET', `/v2/projects/${project}/regions/local/operations/${id}`);

  before(async () => {
    node = await startTestNode({ env: { COFFER_BACKGROUND_INTERVAL_MS: '3600000' }, clock });
    project = (await api('POST', '/v2/projects', {})).body.id;
    ring = (await api('POST', `/v2/projects/${project}/regions/local/keyrings`, { displayName: 'r' })).body
      .id;
    for (const k of ['a', 'b', 'c']) {
      const key = await api('POST', `/v2/projects/${project}/regions/local/keyrings/${ring}/keys`, {
        algorithm: 'aes256-gcm96',
      });
      keys[k] = { id: key.body.id, name: key.body.name };
    }
    for (const sa of ['a', 'b', 'c', 'operator']) {
      accounts[sa] = (
        await api('POST', `/v2/projects/${project}/service-accounts`, { name: `rewrap-${sa}` })
      ).body.email;
    }
    for (const k of ['a', 'b', 'c']) {
      await addBinding(
        `/v2/projects/${project}`,
        'roles/secretsmanager.reader',
        `serviceAccount:${accounts[k]}`,
      );
      await addBinding(keyPath(k), 'roles/kms.cryptoKeyEncrypterDecrypter', `serviceAccount:${accounts[k]}`);
    }
  });
  after(async () => {
    await node?.destroy();
  });

  test('the rewrap decrypts as the old service account and encrypts as the new one, pausing while the old one is disabled or lacks kms.decrypt', async () => {
    const base = await newInstance('paused', 'a', 'a', 3);
    const saA = `/v2/projects/${project}/service-accounts/${accounts.a}`;
    // Disabled first: the switch starts the rewrap at once.
    assert.equal((await api('POST', `${saA}/disable`)).status, 200);
    const switched = await api('PUT', base, { name: 'paused', kmsKey: kmsKey('b', 'b') });
    assert.equal(switched.status, 200, JSON.stringify(switched.body));
    const opId = switched.body.operation.id;
    await node.app.runBackgroundJobs();
    let op = (await operation(opId)).body;
    assert.deepEqual(
      { state: op.state, done: op.done, progress: op.progress.done },
      { state: 'paused', done: false, progress: 0 },
    );
    assert.equal(op.error, `Paused: service account ${accounts.a} is disabled.`);
    // `coffer operations wait` shows why it waits.
    const waiting = spawn(process.execPath, [cofferBin, 'operations', 'wait', opId, '--interval=50'], {
      env: {
        ...process.env,
        COFFER_ADDR: node.url,
        COFFER_TOKEN: node.adminToken!,
        COFFER_PROJECT: project,
        COFFER_REGION: 'local',
        COFFER_CONFIG_DIR: join(tmpdir(), 'coffer-no-such-config'),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let progress = '';
    waiting.stderr.on('data', (d: Buffer) => (progress += d.toString()));
    const closed = once(waiting, 'close');
    for (let i = 0; i < 300 && !progress.includes('\n'); i++) await new Promise((r) => setTimeout(r, 20));
    waiting.kill('SIGKILL');
    await closed;
    assert.equal(
      progress.split('\n')[0],
      `operation ${opId}: paused: Paused: service account ${accounts.a} is disabled. 0/3`,
    );

    assert.equal((await api('POST', `${saA}/enable`)).status, 200);
    await removeBinding(
      keyPath('a'),
      'roles/kms.cryptoKeyEncrypterDecrypter',
      `serviceAccount:${accounts.a}`,
    );
    clock.advance(6000);
    await node.app.runBackgroundJobs();
    op = (await operation(opId)).body;
    assert.equal(op.state, 'paused');
    assert.equal(op.error, `Paused: service account ${accounts.a} lacks kms.decrypt on ${keys.a!.name}.`);

    await addBinding(keyPath('a'), 'roles/kms.cryptoKeyEncrypterDecrypter', `serviceAccount:${accounts.a}`);
    clock.advance(6000);
    await node.app.runBackgroundJobs();
    op = (await operation(opId)).body;
    assert.deepEqual(
      { state: op.state, error: op.error, progress: op.progress },
      {
        state: 'done',
        error: undefined,
        progress: { total: 3, done: 3 },
      },
    );
    const events = await node.app.storage.db
      .selectFrom('audit_events')
      .select(['action', 'principal', 'resource', 'on_behalf_of'])
      .where('request_id', '=', `operation-${opId}`)
      .execute();
    assert.equal(events.length, 6);
    for (const e of events) {
      const [principal, resource] =
        e.action === 'kms.decrypt'
          ? [`serviceAccount:${accounts.a}`, keys.a!.name]
          : [`serviceAccount:${accounts.b}`, keys.b!.name];
      assert.deepEqual(
        { principal: e.principal, resource: e.resource, onBehalfOf: e.on_behalf_of },
        { principal, resource, onBehalfOf: 'user:admin@coffer.internal' },
      );
    }
    for (let i = 0; i < 3; i++)
      assert.equal((await api('GET', `${base}/secrets/s${i}/value`)).body.value, `v${i}`);
  });

  test('a rewrap that lost its lease mid-batch writes neither progress nor a final state', async () => {
    const base = await newInstance('lease', 'a', 'a', 2);
    const stolenLease = clock.nowMs() + 60_000;
    const audit = node.app.audit;
    const append = audit.append.bind(audit);
    // Another node takes the operation over while this one is between its reads and its batch write
    // (hooked before the switch, which starts the rewrap at once).
    audit.append = async (events) => {
      const requestId = events[0]?.requestId ?? '';
      if (requestId.startsWith('operation-'))
        await node.app.storage.write([
          stmt(
            node.app.storage.db
              .updateTable('sm_operations')
              .set({ lease_until: stolenLease })
              .where('id', '=', requestId.slice('operation-'.length)),
          ),
        ]);
      return append(events);
    };
    let opId: string;
    try {
      const switched = await api('PUT', base, { name: 'lease', kmsKey: kmsKey('c', 'c') });
      opId = switched.body.operation.id;
      await node.app.runBackgroundJobs();
    } finally {
      delete (audit as { append?: unknown }).append;
    }
    const row = await node.app.storage.db
      .selectFrom('sm_operations')
      .select(['state', 'done', 'lease_until'])
      .where('id', '=', opId)
      .executeTakeFirstOrThrow();
    assert.deepEqual(
      { state: row.state, done: Number(row.done), lease: Number(row.lease_until) },
      { state: 'running', done: 0, lease: stolenLease },
    );
    clock.advance(61_000);
    await node.app.runBackgroundJobs();
    assert.equal((await operation(opId)).body.state, 'done');
  });

  test('switching or removing an instance key needs kms.decrypt on the old key, or act_as on a service account that holds it', async () => {
    const base = await newInstance('guarded', 'a', 'a', 1);
    const operator = accounts.operator!;
    await addBinding(base, 'roles/secretsmanager.admin', `serviceAccount:${operator}`);
    await addBinding(
      `/v2/projects/${project}/service-accounts/${accounts.b}`,
      'roles/iam.serviceAccountUser',
      `serviceAccount:${operator}`,
    );
    const token = (await api('POST', `/v2/projects/${project}/service-accounts/${operator}/tokens`, {})).body
      .token;
    assert.ok(token);
    for (const kms of [kmsKey('b', 'b'), null]) {
      const refused = await api('PUT', base, { name: 'guarded', kmsKey: kms }, token);
      assert.equal(refused.status, 403, JSON.stringify(refused.body));
      assert.match(refused.body.error.message, new RegExp(`kms.decrypt on the current key ${keys.a!.name}`));
    }
    assert.equal((await api('GET', base)).body.kmsKey.keyId, keys.a!.id, 'nothing changed');
    await addBinding(
      `/v2/projects/${project}/service-accounts/${accounts.a}`,
      'roles/iam.serviceAccountUser',
      `serviceAccount:${operator}`,
    );
    const allowed = await api('PUT', base, { name: 'guarded', kmsKey: kmsKey('b', 'b') }, token);
    assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
  });
});
