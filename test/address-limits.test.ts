import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestNode, type TestNode } from './support/test-node.ts';

describe('per-address limits count an IPv6 /64 as one address', () => {
  let node: TestNode;
  before(async () => {
    node = await startTestNode({
      env: {
        COFFER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS: '0.001',
        COFFER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS_BURST: '2',
      },
    });
  });
  after(() => node?.destroy());

  const badToken = (remoteAddress: string) =>
    node.server.inject({
      method: 'GET',
      url: '/v2/projects',
      remoteAddress,
      headers: { authorization: 'Bearer nope' },
    });
  const badLogin = (remoteAddress: string, email: string) =>
    node.server.inject({
      method: 'POST',
      url: '/v2/auth/login',
      remoteAddress,
      payload: { email, password: 'wrong password' },
    });

  test('two addresses of one /64 share the failed-authentication budget; another /64 has its own', async () => {
    assert.equal((await badToken('2001:db8:0:1::1')).statusCode, 401);
    assert.equal((await badToken('2001:db8:0:1:ffff::2')).statusCode, 401);
    assert.equal((await badToken('2001:db8:0:1::3')).statusCode, 429);
    assert.equal((await badToken('2001:db8:0:2::1')).statusCode, 401);
  });

  test('IPv4 addresses keep a budget each', async () => {
    for (const address of ['192.0.2.1', '192.0.2.1', '192.0.2.2', '192.0.2.2'])
      assert.equal((await badToken(address)).statusCode, 401);
    assert.equal((await badToken('192.0.2.1')).statusCode, 429);
  });

  test('failed logins from one /64 share the per-address login budget', async () => {
    for (let i = 0; i < 10; i++)
      assert.equal((await badLogin(`2001:db8:0:3::${i + 1}`, `u${i}@example.com`)).statusCode, 401);
    assert.equal((await badLogin('2001:db8:0:3::ff', 'other@example.com')).statusCode, 429);
    assert.equal((await badLogin('192.0.2.9', 'other@example.com')).statusCode, 401);
  });
});
