import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
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
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const skip = await passwordAuthSkipReason();
const enc = encodeURIComponent;

describe('Rotation with the postgresql rotator through POST …/rotate', { skip: skip ?? false }, () => {
  const run = randomBytes(4).toString('hex');
  const adminName = `coffer_erot_${run}_admin`;
  const adminPassword = randomBytes(16).toString('hex');
  const [userA, userB] = [`coffer_erot_${run}_a`, `coffer_erot_${run}_b`];
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
    for (const name of [userA, userB]) {
      await createLoginRole(name, initial);
      await withAdmin((c) =>
        c.query(`GRANT ${pg.escapeIdentifier(name)} TO ${pg.escapeIdentifier(adminName)} WITH ADMIN OPTION`),
      );
    }
    node = await startTestNode({ env: { COFFER_REGIONS: 'eu01', COFFER_BACKGROUND_INTERVAL_MS: '3600000' } });
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
    await dropRoles([userA, userB, adminName]);
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
});
