import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { withAdmin } from './support/postgres.ts';
import {
  canLogin,
  createLoginRole,
  dropRoles,
  passwordAuthSkipReason,
  testServer,
} from './support/postgres-roles.ts';
import { ManualClock } from '../src/core/clock.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const skip = await passwordAuthSkipReason();
const enc = encodeURIComponent;

describe('Rotation with the postgresql rotator through POST …/rotate', { skip: skip ?? false }, () => {
  const run = randomBytes(4).toString('hex');
  const adminName = `coffer_erot_${run}_admin`;
  const adminPassword = randomBytes(16).toString('hex');
  const [userA, userB, userS] = [`coffer_erot_${run}_a`, `coffer_erot_${run}_b`, `coffer_erot_${run}_s`];
  const clock = new ManualClock(Date.now());
  let proxy: TcpProxy;
  const initial = randomBytes(12).toString('hex');
  let node: TestNode;
  let base: string;
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: node.adminToken!, ...(body !== undefined ? { body } : {}) });
  const secret = (path: string) => `${base}/secrets/${enc(path)}`;
  const value = async (query = '') => {
    const res = await api('GET', `${secret('db/app')}/value${query}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return JSON.parse(res.body.value) as { username: string; password: string; host: string };
  };

  before(async () => {
    await createLoginRole(adminName, adminPassword, 'CREATEROLE');
    for (const name of [userA, userB, userS]) {
      await createLoginRole(name, initial);
      await withAdmin((c) =>
        c.query(`GRANT ${pg.escapeIdentifier(name)} TO ${pg.escapeIdentifier(adminName)} WITH ADMIN OPTION`),
      );
    }
    proxy = await startTcpProxy(testServer.host, testServer.port);
    node = await startTestNode({
      env: { COFFER_REGIONS: 'eu01', COFFER_BACKGROUND_INTERVAL_MS: '3600000' },
      clock,
    });
    const projectId = (await api('POST', '/v2/projects', {})).body.id as string;
    const instance = await api('POST', `/v2/projects/${projectId}/regions/eu01/instances`, { name: 'db' });
    base = `/v2/projects/${projectId}/regions/eu01/instances/${instance.body.id}`;
    const admin = { ...testServer, username: adminName, password: adminPassword, sslmode: 'disable' };
    assert.equal(
      (await api('POST', `${base}/secrets`, { path: 'db/admin', value: JSON.stringify(admin) })).status,
      201,
    );
    const created = await api('POST', `${base}/secrets`, {
      path: 'db/app',
      value: JSON.stringify({ ...testServer, username: userA, password: initial, sslmode: 'disable' }),
      rotation: {
        rotator: {
          type: 'postgresql',
          connectionSecret: 'db/admin',
          strategy: 'alternate-users',
          usernames: [userA, userB],
        },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  });
  after(async () => {
    await node?.destroy();
    await proxy?.close();
    await dropRoles([userA, userB, userS, adminName]);
  });

  test('alternate-users: each rotation changes the other user; the new and the previous credentials log in', async () => {
    const first = await api('POST', `${secret('db/app')}/rotate`);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const current = await value();
    assert.equal(current.username, userB);
    assert.ok(await canLogin(userB, current.password));
    assert.ok(await canLogin(userA, initial), 'previous still works');
    assert.equal((await value('?stage=previous')).username, userA);

    const second = await api('POST', `${secret('db/app')}/rotate`);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    const next = await value();
    assert.equal(next.username, userA);
    assert.ok(await canLogin(userA, next.password));
    assert.ok(
      await canLogin(userB, current.password),
      'the previous credential works until the next rotation',
    );
    assert.equal(await canLogin(userA, initial), false);
  });

  test('the target is pinned when the rotator is set: a writer of the admin secret cannot redirect the rotation', async () => {
    const shown = (await api('GET', secret('db/app'))).body.rotation.rotator;
    assert.deepEqual(
      [shown.host, shown.port, shown.database, shown.sslmode],
      [testServer.host, testServer.port, testServer.database, 'disable'],
    );
    // A listener of "the attacker" that counts connections; the admin secret now points at it.
    let connections = 0;
    const trap = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
    const trapPort = (trap.address() as net.AddressInfo).port;
    try {
      const admin = { ...testServer, username: adminName, password: adminPassword, sslmode: 'disable' };
      const put = await api('PUT', `${secret('db/admin')}/value`, {
        value: JSON.stringify({ ...admin, host: '127.0.0.1', port: trapPort }),
      });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      const rotated = await api('POST', `${secret('db/app')}/rotate`);
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      assert.equal(connections, 0, 'nothing reached the redirected host');
      const now = await value();
      assert.equal((now as unknown as { port: number }).port, testServer.port);
      assert.ok(await canLogin(now.username, now.password));
    } finally {
      await api('PUT', `${secret('db/admin')}/value`, {
        value: JSON.stringify({
          ...testServer,
          username: adminName,
          password: adminPassword,
          sslmode: 'disable',
        }),
      });
      await new Promise<void>((resolve) => trap.close(() => resolve()));
    }
  });

  test('a wrong admin credential fails set with target_failed naming the connection, current unchanged, no password anywhere', async () => {
    const before = await value();
    const wrong = { ...testServer, username: adminName, password: 'wrong-password-xyz', sslmode: 'disable' };
    assert.equal(
      (await api('PUT', `${secret('db/admin')}/value`, { value: JSON.stringify(wrong) })).status,
      201,
    );
    const failed = await api('POST', `${secret('db/app')}/rotate`);
    assert.equal(failed.status, 503, JSON.stringify(failed.body));
    assert.equal(failed.body.error.code, 'target_failed');
    assert.match(failed.body.error.message, /db\/admin/);
    const status = (await api('GET', secret('db/app'))).body.rotationStatus;
    assert.equal(status.state, 'in_progress');
    assert.equal(status.lastFailure.step, 'set');
    assert.deepEqual(await value(), before);
    const text = JSON.stringify([failed.body, status]) + node.logLines.join('\n');
    for (const leaked of ['wrong-password-xyz', adminPassword, before.password])
      assert.equal(text.includes(leaked), false);
  });

  test('PostgreSQL down during set: the rotation pauses (current unchanged, backoff) and the schedule resumes it once it is back', async () => {
    const viaProxy = { ...testServer, host: '127.0.0.1', port: proxy.port, sslmode: 'disable' };
    const admin = { ...viaProxy, username: adminName, password: adminPassword };
    assert.equal(
      (await api('POST', `${base}/secrets`, { path: 'db/admin-proxied', value: JSON.stringify(admin) }))
        .status,
      201,
    );
    const created = await api('POST', `${base}/secrets`, {
      path: 'db/single',
      value: JSON.stringify({ ...viaProxy, username: userS, password: initial }),
      rotation: {
        rotator: {
          type: 'postgresql',
          connectionSecret: 'db/admin-proxied',
          strategy: 'single-user',
          username: userS,
        },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await proxy.cut();
    const failed = await api('POST', `${secret('db/single')}/rotate`);
    assert.equal(failed.status, 503, JSON.stringify(failed.body));
    const status = (await api('GET', secret('db/single'))).body.rotationStatus;
    assert.deepEqual([status.state, status.step, status.attempts], ['in_progress', 'set', 1]);
    const unchanged = await api('GET', `${secret('db/single')}/value`);
    assert.equal(JSON.parse(unchanged.body.value).password, initial);
    assert.ok(await canLogin(userS, initial), 'the old password still works');
    await proxy.restore();
    assert.equal(await node.app.rotation.runDue(), 0, 'not before its backoff');
    clock.advance(30_000);
    assert.equal(await node.app.rotation.runDue(), 1);
    const rotated = JSON.parse((await api('GET', `${secret('db/single')}/value`)).body.value);
    assert.equal(rotated.username, userS);
    assert.equal(rotated.port, proxy.port);
    assert.ok(await canLogin(userS, rotated.password));
    assert.equal(await canLogin(userS, initial), false);
    assert.equal((await api('GET', secret('db/single'))).body.rotationStatus.state, 'idle');
  });
});
