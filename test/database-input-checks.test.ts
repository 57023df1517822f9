import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type DatabaseFixture, startDatabaseFixture } from './support/database-fixture.ts';
import { postgresSkipReason } from './support/postgres.ts';
import { call } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();

describe('database role and issue input (real PostgreSQL target)', { skip: postgresSkip ?? false }, () => {
  let f: DatabaseFixture;
  before(async () => {
    f = await startDatabaseFixture('sqlite');
  });
  after(async () => {
    await f?.destroy();
  });

  const revoke = async (res: { body: { lease: { id: string } } }) =>
    assert.equal((await f.admin().post(`/v2/leases/${res.body.lease.id}/revoke`)).status, 200);

  test('a statement with a NUL byte is refused when the role is put', async () => {
    for (const body of [
      { creationStatements: ['CREATE ROLE {{name}} LOGIN PASSWORD {{password}}\u0000; SELECT 1'] },
      { creationStatements: ['SELECT 1'], revocationStatements: ['SELECT 1\u0000'] },
    ]) {
      const res = await f.admin().put(`${f.instanceBase}/databases/app/roles/nul`, {
        ...body,
        defaultTtl: '1h',
        maxTtl: '1h',
      });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(res.body.error.message, /NUL byte/);
    }
  });

  test('issue without a body uses the defaults; a ttl that is not a positive whole duration is refused clearly', async () => {
    const none = await call(f.node.url, 'POST', `${f.instanceBase}/databases/app/roles/ro/issue`, {
      token: f.node.adminToken,
    });
    assert.equal(none.status, 200, JSON.stringify(none.body));
    assert.equal(none.body.lease.ttl, 3600);
    await revoke(none);
    for (const ttl of [0, -5, 1.5, 'soon', '0s']) {
      const res = await f.issue(f.node.adminToken, 'app', 'ro', { ttl });
      assert.equal(res.status, 400, JSON.stringify({ ttl, body: res.body }));
      assert.match(res.body.error.message, /ttl must be a duration like 3600s, 15m or 1h/);
    }
    const seconds = await f.issue(f.node.adminToken, 'app', 'ro', { ttl: 60 });
    assert.equal(seconds.status, 200, JSON.stringify(seconds.body));
    assert.equal(seconds.body.lease.ttl, 60);
    await revoke(seconds);
  });

  test('a failing creation statement that held the password is reported by number and SQLSTATE only', async () => {
    const put = await f.admin().put(`${f.instanceBase}/databases/app/roles/leaky`, {
      creationStatements: [f.creation()[0], 'SELECT {{password}}::int', 'SELECT no_such_function()'],
      defaultTtl: '1h',
      maxTtl: '1h',
    });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    const res = await f.issue(f.node.adminToken, 'app', 'leaky');
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(res.body.error.message, 'database app: statement 2 failed (SQLSTATE 22P02)');
    // A statement without the password keeps PostgreSQL's message.
    const plain = await f.admin().put(`${f.instanceBase}/databases/app/roles/leaky`, {
      creationStatements: [f.creation()[0], 'SELECT no_such_function()'],
      defaultTtl: '1h',
      maxTtl: '1h',
    });
    assert.equal(plain.status, 200);
    const failed = await f.issue(f.node.adminToken, 'app', 'leaky');
    assert.equal(failed.status, 503);
    assert.match(failed.body.error.message, /no_such_function/);
  });
});
