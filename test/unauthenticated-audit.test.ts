import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import pino from 'pino';
import { UnauthenticatedAudit } from '../src/audit/audit-unauthenticated.ts';
import type { AuditEvent } from '../src/audit/audit-types.ts';
import { ManualClock } from '../src/core/clock.ts';
import { call, startTestNode } from './support/test-node.ts';

const badToken = 'cfr_not-a-real-token';

test('anonymous 401s are counted per address into one system event a minute, never into the project log', async () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 7, 12, 0, 0));
  const node = await startTestNode({ clock });
  const admin = node.adminToken!;
  try {
    const projectId = (await call(node.url, 'POST', '/v2/projects', { token: admin, body: {} })).body.id;
    const keyrings = `/v2/projects/${projectId}/regions/local/keyrings`;
    const windowStart = new Date(clock.nowMs()).toISOString();
    for (let i = 0; i < 5; i++)
      assert.equal((await call(node.url, 'GET', keyrings, { token: badToken })).status, 401);
    assert.equal((await call(node.url, 'GET', keyrings)).status, 401, 'no token at all');
    const inProject = await call(node.url, 'GET', `/v2/projects/${projectId}/audit-events?result=denied`, {
      token: admin,
    });
    assert.deepEqual(inProject.body.items, [], 'the project log holds no anonymous denial');
    const anonymous = await node.app.storage.db
      .selectFrom('audit_events')
      .select('id')
      .where('principal', '=', 'anonymous')
      .execute();
    assert.equal(anonymous.length, 0, 'nothing written per request');

    clock.advance(60_000);
    await node.app.unauthenticatedAudit.flush();
    const system = await call(node.url, 'GET', '/v2/sys/audit-events?action=auth.unauthenticated', {
      token: admin,
    });
    assert.equal(system.body.items.length, 1, JSON.stringify(system.body));
    const event = system.body.items[0];
    assert.equal(event.principal, 'anonymous');
    assert.equal(event.resource, 'root');
    assert.equal(event.sourceIp, '127.0.0.1');
    assert.deepEqual(event.details, { count: 6, rateLimited: 0, windowStart });
    assert.ok(!JSON.stringify(system.body).includes(badToken), 'the token is never recorded');
    assert.equal((await call(node.url, 'GET', '/v2/sys/audit/verify', { token: admin })).body.valid, true);
  } finally {
    await node.destroy();
  }
});

test('the 21st failed authentication in a second from one address gets 429 before any token lookup; logins keep their own limiter', async () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 7, 12, 0, 0));
  const node = await startTestNode({ clock });
  const admin = node.adminToken!;
  try {
    for (let i = 0; i < 20; i++)
      assert.equal(
        (await call(node.url, 'GET', '/v2/projects', { token: badToken })).status,
        401,
        `#${i + 1}`,
      );
    const limited = await call(node.url, 'GET', '/v2/projects', { token: badToken });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error.code, 'rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    // The address is refused before its token is looked up, so a valid token waits too.
    assert.equal((await call(node.url, 'GET', '/v2/projects', { token: admin })).status, 429);
    // Logins are public and keep their own (per-account) limiter.
    const login = await call(node.url, 'POST', '/v2/auth/login', {
      body: { email: 'nobody@example.com', password: 'wrong-password' },
    });
    assert.notEqual(login.status, 429, JSON.stringify(login.body));
    clock.advance(1000);
    assert.equal((await call(node.url, 'GET', '/v2/projects', { token: admin })).status, 200);
    await node.app.unauthenticatedAudit.flush();
    const system = await call(node.url, 'GET', '/v2/sys/audit-events?action=auth.unauthenticated', {
      token: admin,
    });
    // The failed login is counted too, apart (its own route's tally).
    const [guarded, logins] = [false, true].map((isLogin) =>
      system.body.items.filter(
        (e: { details: { action?: string } }) => (e.details.action === 'auth.login') === isLogin,
      ),
    );
    assert.equal(guarded.length, 1);
    assert.equal(guarded[0].details.count, 22);
    assert.equal(guarded[0].details.rateLimited, 2);
    assert.equal(logins.length, 1);
    assert.equal(logins[0].details.count, 1);
  } finally {
    await node.destroy();
  }
});

test('a node shutting down writes the counts it holds', async () => {
  const node = await startTestNode();
  await call(node.url, 'GET', '/v2/projects', { token: badToken });
  await call(node.url, 'GET', '/v2/projects', { token: badToken });
  await node.stop();
  const db = new DatabaseSync(join(node.dataDir, 'coffer.db'));
  try {
    const rows = db
      .prepare("SELECT details FROM audit_events WHERE action = 'auth.unauthenticated'")
      .all() as Array<{ details: string }>;
    assert.equal(rows.length, 1);
    assert.equal(JSON.parse(rows[0]!.details).count, 2);
  } finally {
    db.close();
    rmSync(node.dataDir, { recursive: true, force: true });
  }
});

test('tracked addresses are capped: further addresses share one overflow tally', async () => {
  const written: AuditEvent[] = [];
  const tally = new UnauthenticatedAudit(
    async (events) => {
      written.push(...events);
    },
    new ManualClock(),
    pino({ level: 'silent' }),
    3,
  );
  for (let i = 0; i < 10; i++) tally.record(`10.0.0.${i % 5}`, i >= 8);
  assert.equal(tally.trackedAddresses, 3);
  await tally.flush();
  assert.deepEqual(
    written.map((e) => [e.sourceIp, e.details?.count, e.details?.rateLimited, e.details?.overflow]),
    [
      ['10.0.0.0', 2, 0, undefined],
      ['10.0.0.1', 2, 0, undefined],
      ['10.0.0.2', 2, 0, undefined],
      [undefined, 4, 2, true],
    ],
  );
  await tally.flush();
  assert.equal(written.length, 4, 'an empty window writes nothing');
});

test('refusals from one IPv6 /64 share one tally (one host cannot fill the table), recorded as the /64', async () => {
  const node = await startTestNode({ env: { COFFER_TRUST_PROXY: 'loopback' } });
  try {
    const body = { email: 'nobody@example.com', password: 'x' };
    for (let i = 1; i <= 12; i++) {
      const headers = { 'x-forwarded-for': `2001:db8:1:2::${i.toString(16)}` };
      await call(node.url, 'POST', '/v2/auth/login', { body, headers });
    }
    assert.equal(node.app.unauthenticatedAudit.trackedAddresses, 1);
    await node.app.unauthenticatedAudit.flush();
    const written = await call(node.url, 'GET', '/v2/sys/audit-events?action=auth.unauthenticated', {
      token: node.adminToken!,
    });
    assert.deepEqual(
      written.body.items.map((e: { sourceIp: string; details: { count: number } }) => [
        e.sourceIp,
        e.details.count,
      ]),
      [['2001:db8:1:2::/64', 12]],
    );
  } finally {
    await node.destroy();
  }
});

test('behind a trusted proxy, X-Forwarded-For text that is no address falls back to the peer address', async () => {
  const node = await startTestNode({ env: { COFFER_TRUST_PROXY: 'loopback' } });
  try {
    const body = { email: 'nobody@example.com', password: 'x' };
    for (const forwarded of ['evil-1 <script>', 'evil-2', '2001:db8::zz'])
      await call(node.url, 'POST', '/v2/auth/login', { body, headers: { 'x-forwarded-for': forwarded } });
    assert.equal(node.app.unauthenticatedAudit.trackedAddresses, 1);
    await node.app.unauthenticatedAudit.flush();
    const written = await call(node.url, 'GET', '/v2/sys/audit-events?action=auth.unauthenticated', {
      token: node.adminToken!,
    });
    assert.deepEqual(
      written.body.items.map((e: { sourceIp: string; details: { count: number } }) => [
        e.sourceIp,
        e.details.count,
      ]),
      [['127.0.0.1', 3]],
    );
  } finally {
    await node.destroy();
  }
});
