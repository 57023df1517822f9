import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const anonymousEvents = async (node: TestNode) =>
  (await node.app.storage.db.selectFrom('audit_events').select('id').execute()).length;

const tallies = async (node: TestNode) => {
  const res = await call(node.url, 'GET', '/v2/sys/audit-events?action=auth.unauthenticated', {
    token: node.adminToken!,
  });
  return res.body.items as { sourceIp: string; details: Record<string, unknown> }[];
};

const floods = [
  [
    'auth.login',
    '/v2/auth/login',
    'a wrong password',
    { email: 'nobody@example.com', password: 'not-the-password' },
  ],
  [
    'auth.token',
    '/v2/auth/token',
    'a bad assertion',
    { grantType: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: 'a.b.c' },
  ],
  ['auth.token', '/v2/auth/token', 'a malformed body', {}],
  ['sys.unseal', '/v2/sys/unseal', 'a bad share', { key: 'bm90LWEtc2hhcmU=' }],
  ['sys.init', '/v2/sys/init', 'an initialized node', { secretShares: 3, secretThreshold: 2 }],
] as const;

for (const [action, route, refusal, body] of floods) {
  test(`100 anonymous ${route} requests refused for ${refusal} from one address write one event a minute`, async () => {
    const node = await startTestNode();
    try {
      const before = await anonymousEvents(node);
      const statuses = new Set<number>();
      for (let i = 0; i < 100; i++) statuses.add((await call(node.url, 'POST', route, { body })).status);
      assert.ok(
        [...statuses].every((status) => status >= 400),
        [...statuses].join(),
      );
      assert.equal(await anonymousEvents(node), before, 'nothing is written per request');
      await node.app.unauthenticatedAudit.flush();
      assert.equal(await anonymousEvents(node), before + 1);
      const written = await tallies(node);
      assert.equal(written.length, 1, JSON.stringify(written));
      assert.equal(written[0]!.sourceIp, '127.0.0.1');
      assert.equal(written[0]!.details.action, action);
      assert.equal(written[0]!.details.count, 100);
    } finally {
      await node.destroy();
    }
  });
}

const grant = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const malformed = {
  'no assertion': {},
  'an unreadable ttl': { grantType: grant, assertion: 'a.b.c', ttl: 'soon' },
  'a ttl out of range': { grantType: grant, assertion: 'a.b.c', ttl: '7200s' },
};
for (const [what, body] of Object.entries(malformed)) {
  test(`token requests with ${what} spend the failure budget: they end in 429 like bad assertions`, async () => {
    const node = await startTestNode();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++)
        statuses.push((await call(node.url, 'POST', '/v2/auth/token', { body })).status);
      assert.equal(statuses[0], 400);
      assert.equal(statuses.at(-1), 429, statuses.join());
    } finally {
      await node.destroy();
    }
  });
}

test('requests the address limiter refuses on public routes are counted, not written one by one', async () => {
  const node = await startTestNode({
    env: { COFFER_RATE_LIMIT_PER_ADDRESS: '0.01', COFFER_RATE_LIMIT_PER_ADDRESS_BURST: '1' },
  });
  try {
    const before = await anonymousEvents(node);
    for (let i = 0; i < 50; i++) await call(node.url, 'POST', '/v2/auth/login', { body: {} });
    assert.equal(await anonymousEvents(node), before);
    await node.app.unauthenticatedAudit.flush();
    const events = await node.app.storage.db
      .selectFrom('audit_events')
      .select('details')
      .where('action', '=', 'auth.unauthenticated')
      .execute();
    assert.equal(events.length, 1);
    assert.deepEqual(
      { ...JSON.parse(events[0]!.details!), windowStart: undefined },
      { action: 'auth.login', count: 50, rateLimited: 49, windowStart: undefined },
    );
  } finally {
    await node.destroy();
  }
});

test('a successful login is still written per request, with its principal', async () => {
  const node = await startTestNode();
  try {
    const email = 'alice@example.com';
    const password = 'correct horse battery';
    await call(node.url, 'POST', '/v2/users', { token: node.adminToken!, body: { email, password } });
    assert.equal((await call(node.url, 'POST', '/v2/auth/login', { body: { email, password } })).status, 200);
    const logins = await node.app.storage.db
      .selectFrom('audit_events')
      .select(['principal', 'result'])
      .where('action', '=', 'auth.login')
      .execute();
    assert.deepEqual(logins, [{ principal: `user:${email}`, result: 'ok' }]);
  } finally {
    await node.destroy();
  }
});
