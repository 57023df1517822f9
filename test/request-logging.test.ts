import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type App, createApp } from '../src/app/app.ts';
import { systemClock } from '../src/core/clock.ts';
import { loadConfig } from '../src/core/config.ts';
import { createLogger } from '../src/core/logger.ts';
import { buildServer } from '../src/http/server.ts';

// request.log makes its pino child (the request id binding, redaction) only when a line is written:
// the line still carries the request id, and what it logs is still redacted.

const planted = 'tok-planted-4f1c9a';
let app: App;
let server: FastifyInstance;
let dataDir: string;
const lines: Record<string, unknown>[] = [];

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'coffer-request-logging-'));
  const config = loadConfig({
    env: { COFFER_LOG_LEVEL: 'warn', COFFER_DATA_DIR: dataDir, COFFER_LISTEN: '127.0.0.1:0' },
  });
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
      lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  app = await createApp(config, createLogger(config.logLevel, sink), systemClock);
  server = await buildServer(app);
  server.get('/v2/test/boom', { config: { public: true } }, () => {
    throw new Error(`boom ${planted.length}`);
  });
  server.get('/v2/test/log', { config: { public: true } }, (request) => {
    request.log.warn({ token: planted, nested: { value: planted }, kept: 'visible' }, 'a note');
    request.log.info({ token: planted }, 'below the level');
    return { ok: true };
  });
  await server.ready();
});

after(async () => {
  await server.close();
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('an unexpected error is logged with the request id of its answer', async () => {
  const res = await server.inject({ method: 'GET', url: '/v2/test/boom' });
  assert.equal(res.statusCode, 500);
  const requestId = res.headers['x-request-id'];
  assert.ok(typeof requestId === 'string' && requestId.length > 0);
  assert.equal(res.json().error.requestId, requestId);
  const line = lines.find((l) => l.msg === 'unexpected error' && l.requestId === requestId);
  assert.ok(line, `no "unexpected error" line with requestId ${requestId}: ${JSON.stringify(lines)}`);
  assert.match(JSON.stringify(line.err), /boom 18/);
});

test("a caller's own request id is the one its log lines carry", async () => {
  const res = await server.inject({
    method: 'GET',
    url: '/v2/test/boom',
    headers: { 'x-request-id': 'mine-1' },
  });
  assert.equal(res.headers['x-request-id'], 'mine-1');
  assert.ok(lines.some((l) => l.msg === 'unexpected error' && l.requestId === 'mine-1'));
});

test('what a request logs is redacted, carries its request id, and lines below the level are dropped', async () => {
  const res = await server.inject({ method: 'GET', url: '/v2/test/log' });
  assert.equal(res.statusCode, 200);
  const requestId = res.headers['x-request-id'];
  const mine = lines.filter((l) => l.requestId === requestId);
  assert.equal(mine.length, 1, JSON.stringify(mine));
  const line = mine[0]!;
  assert.equal(line.msg, 'a note');
  assert.equal(line.token, '[redacted]');
  assert.deepEqual(line.nested, { value: '[redacted]' });
  assert.equal(line.kept, 'visible');
  assert.equal(line.service, 'coffer');
  assert.ok(!lines.some((l) => JSON.stringify(l).includes(planted)), 'the planted token is in no line');
});

test('at level warn, requests that log nothing write no line (no incoming/completed lines)', async () => {
  const before = lines.length;
  const res = await server.inject({ method: 'GET', url: '/v2/health' });
  assert.equal(res.statusCode, 200);
  assert.equal(lines.length, before);
});

test('the hot answers have a 200 response schema (Fastify serializes them with a compiled serializer)', () => {
  const doc = server.swagger() as {
    paths: Record<string, Record<string, { responses?: Record<string, { content?: unknown }> }>>;
  };
  const keyPath = '/v2/projects/{projectId}/regions/{regionId}/keyrings/{keyRingId}/keys/{keyId}';
  const hot = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods)
      .filter(
        ([method]) =>
          (method === 'post' && (path === `${keyPath}/encrypt` || path === `${keyPath}/decrypt`)) ||
          (method === 'get' && path.endsWith('/secrets/{secret}/value')),
      )
      .map(([method, operation]) => ({
        route: `${method} ${path}`,
        ok: operation.responses?.['200']?.content,
      })),
  );
  assert.equal(hot.length, 3, JSON.stringify(hot.map((h) => h.route)));
  for (const { route, ok } of hot) assert.ok(ok, `${route} has no 200 response schema`);
});
