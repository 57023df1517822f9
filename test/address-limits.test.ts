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
        // 3 a minute: a burst of 3, one more every 20 s, so a slow machine (a failed login verifies
        // a password hash) cannot refill the budget while the test spends it.
        COFFER_RATE_LIMIT_LOGINS_PER_MINUTE: '3',
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
    for (let i = 0; i < 3; i++)
      assert.equal((await badLogin(`2001:db8:0:3::${i + 1}`, `u${i}@example.com`)).statusCode, 401);
    assert.equal((await badLogin('2001:db8:0:3::ff', 'other@example.com')).statusCode, 429);
    assert.equal((await badLogin('192.0.2.9', 'other@example.com')).statusCode, 401);
  });

  test('failed token exchanges from one /64 share the per-address exchange budget', async () => {
    const exchange = (remoteAddress: string) =>
      node.server.inject({
        method: 'POST',
        url: '/v2/auth/token',
        remoteAddress,
        payload: { grantType: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: 'not.a.jwt' },
      });
    for (let i = 0; i < 3; i++) assert.equal((await exchange(`2001:db8:0:4::${i + 1}`)).statusCode, 401);
    assert.equal((await exchange('2001:db8:0:4::ff')).statusCode, 429);
    assert.equal((await exchange('2001:db8:0:5::1')).statusCode, 401);
  });
});

describe('trustProxy: X-Forwarded-For names the client only when a configured proxy says so', () => {
  let node: TestNode;
  before(async () => {
    node = await startTestNode({
      env: {
        COFFER_TRUST_PROXY: '10.0.0.0/8',
        COFFER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS: '0.001',
        COFFER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS_BURST: '1',
      },
    });
  });
  after(() => node?.destroy());

  const badToken = (remoteAddress: string, forwardedFor: string) =>
    node.server.inject({
      method: 'GET',
      url: '/v2/projects',
      remoteAddress,
      headers: { authorization: 'Bearer nope', 'x-forwarded-for': forwardedFor },
    });

  test('through a trusted proxy, each client has its own budget and is audited by its own address', async () => {
    assert.equal((await badToken('10.1.2.3', '198.51.100.1')).statusCode, 401);
    assert.equal((await badToken('10.1.2.3', '198.51.100.2')).statusCode, 401);
    assert.equal((await badToken('10.9.9.9', '198.51.100.1')).statusCode, 429);
    const listed = await node.server.inject({
      method: 'GET',
      url: '/v2/projects',
      remoteAddress: '10.1.2.3',
      headers: { authorization: `Bearer ${node.adminToken}`, 'x-forwarded-for': '198.51.100.77' },
    });
    assert.equal(listed.statusCode, 200);
    const event = await node.app.storage.db
      .selectFrom('audit_events')
      .select('source_ip')
      .where('request_id', '=', String(listed.headers['x-request-id']))
      .executeTakeFirstOrThrow();
    assert.equal(event.source_ip, '198.51.100.77');
  });

  test('from any other address the header is ignored: the socket address is the client', async () => {
    assert.equal((await badToken('192.0.2.50', '198.51.100.3')).statusCode, 401);
    assert.equal((await badToken('192.0.2.50', '198.51.100.4')).statusCode, 429);
    // A client behind the trusted proxy cannot pick its address by prepending its own header value.
    assert.equal((await badToken('10.1.2.3', '198.51.100.5, 198.51.100.1')).statusCode, 429);
  });
});
