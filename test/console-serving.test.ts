import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type App, createApp } from '../src/app/app.ts';
import { systemClock } from '../src/core/clock.ts';
import { loadConfig } from '../src/core/config.ts';
import { createLogger } from '../src/core/logger.ts';
import { consoleCsp, defaultConsoleDir } from '../src/http/console-routes.ts';
import { buildServer } from '../src/http/server.ts';

// The console's serving (issue #17): /ui/ from a built folder with the strict headers, the SPA
// fallback, hashed assets cached for a year and the index never, a plain 404 when not built, and no
// way out of the build folder. A fake build in a temp dir stands for Vite's output.

const index =
  '<!doctype html><html lang="en"><head><script type="module" src="/ui/assets/app-Ab12Cd.js"></script></head><body><div id="root"></div></body></html>';
const script = `console.log(${JSON.stringify('x'.repeat(4000))});`;
let app: App;
let server: FastifyInstance;
let bare: FastifyInstance;
let work: string;
let built: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'coffer-console-serving-'));
  built = join(work, 'ui');
  mkdirSync(join(built, 'assets'), { recursive: true });
  writeFileSync(join(built, 'index.html'), index);
  writeFileSync(join(built, 'assets', 'app-Ab12Cd.js'), script);
  writeFileSync(join(built, 'assets', 'app-Ef34Gh.css'), 'body{color:red}');
  writeFileSync(join(work, 'outside.txt'), 'outside the build');
  // A symlink inside the build that points out of it is not served.
  symlinkSync(join(work, 'outside.txt'), join(built, 'link.txt'));
  const config = loadConfig({
    env: { COFFER_LOG_LEVEL: 'warn', COFFER_DATA_DIR: join(work, 'data'), COFFER_LISTEN: '127.0.0.1:0' },
  });
  app = await createApp(config, createLogger(config.logLevel, new PassThrough()), systemClock);
  server = await buildServer(app, { consoleDir: built });
  bare = await buildServer(app, { consoleDir: join(work, 'never-built') });
  await server.ready();
  await bare.ready();
});

after(async () => {
  await server.close();
  await bare.close();
  await app.close();
  rmSync(work, { recursive: true, force: true });
});

function assertSecurityHeaders(headers: Record<string, unknown>, what: string): void {
  assert.equal(headers['content-security-policy'], consoleCsp, what);
  assert.match(consoleCsp, /script-src 'self';/);
  assert.doesNotMatch(consoleCsp, /unsafe-inline|unsafe-eval/);
  assert.match(consoleCsp, /frame-ancestors 'none'/);
  assert.equal(headers['x-frame-options'], 'DENY', what);
  assert.equal(headers['referrer-policy'], 'no-referrer', what);
  assert.equal(headers['x-content-type-options'], 'nosniff', what);
}

test('GET /ui/ serves index.html with the strict headers and no caching', async () => {
  const res = await server.inject({ method: 'GET', url: '/ui/' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.body, index);
  assert.match(String(res.headers['content-type']), /^text\/html/);
  assert.equal(res.headers['cache-control'], 'no-store');
  assertSecurityHeaders(res.headers, '/ui/');
  const explicit = await server.inject({ method: 'GET', url: '/ui/index.html' });
  assert.equal(explicit.body, index);
  assert.equal(explicit.headers['cache-control'], 'no-store');
});

test('a hashed asset is cached for a year as immutable, gzip when accepted', async () => {
  const res = await server.inject({ method: 'GET', url: '/ui/assets/app-Ab12Cd.js' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.body, script);
  assert.match(String(res.headers['content-type']), /^text\/javascript/);
  assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
  assertSecurityHeaders(res.headers, 'asset');
  const zipped = await server.inject({
    method: 'GET',
    url: '/ui/assets/app-Ab12Cd.js',
    headers: { 'accept-encoding': 'gzip, br' },
  });
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.equal(zipped.headers.vary, 'accept-encoding');
  assert.equal(gunzipSync(zipped.rawPayload).toString('utf8'), script);
  const css = await server.inject({ method: 'GET', url: '/ui/assets/app-Ef34Gh.css' });
  assert.match(String(css.headers['content-type']), /^text\/css/);
  const head = await server.inject({ method: 'HEAD', url: '/ui/assets/app-Ab12Cd.js' });
  assert.equal(head.statusCode, 200);
});

test('every file of the real build (each lazily loaded chunk too) is served as immutable with its type', async (t) => {
  if (!existsSync(join(defaultConsoleDir, 'index.html'))) {
    // npm ci builds the console; CI must have it, a checkout without a build skips.
    if (process.env.CI === 'true') assert.fail('console not built: run npm run build:ui');
    t.skip('console not built');
    return;
  }
  const real = await buildServer(app, {});
  try {
    const names = readdirSync(join(defaultConsoleDir, 'assets'));
    assert.ok(names.filter((name) => name.endsWith('.js')).length > 1, 'the build is split into chunks');
    for (const name of names) {
      const res = await real.inject({ method: 'GET', url: `/ui/assets/${name}` });
      assert.equal(res.statusCode, 200, name);
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable', name);
      assert.match(
        String(res.headers['content-type']),
        name.endsWith('.js') ? /^text\/javascript/ : /^text\/css/,
        name,
      );
      assertSecurityHeaders(res.headers, name);
      // Every chunk a chunk loads (a static or dynamic import, Vite's preload list) is in the build.
      const code = readFileSync(join(defaultConsoleDir, 'assets', name), 'utf8');
      for (const m of code.matchAll(/["'`](?:\.\/|assets\/)([\w.-]+\.(?:js|css))["'`]/g))
        assert.ok(names.includes(m[1]!), `${name} refers to ${m[1]}, which is not in the build`);
    }
  } finally {
    await real.close();
  }
});

test('unknown console paths fall back to index.html; a missing asset is a 404, never the index', async () => {
  for (const url of [
    '/ui/projects',
    '/ui/projects/p1/regions/r1/instances/i/secrets/a%2Fb',
    '/ui/signin?x=1',
  ]) {
    const res = await server.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 200, url);
    assert.equal(res.body, index, url);
    assert.equal(res.headers['cache-control'], 'no-store', url);
    assertSecurityHeaders(res.headers, url);
  }
  for (const url of [
    '/ui/assets/app-Old000.js',
    '/ui//assets/app-Old000.js',
    '/ui/./assets/app-Old000.js',
    '/ui/x/../assets/app-Old000.js',
    '/ui/%2e/assets/app-Old000.js',
  ]) {
    const missing = await server.inject({ method: 'GET', url });
    assert.equal(missing.statusCode, 404, url);
    assert.doesNotMatch(missing.body, /<html/, url);
    assertSecurityHeaders(missing.headers, url);
  }
});

test('a malformed URL is invalid_argument in the API error form, not an echo of the path', async () => {
  for (const url of ['/ui/x%ZZ', '/v2/projects/%ZZ', '/%E0%A4%A']) {
    const res = await server.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 400, url);
    assert.equal(res.json().error.code, 'invalid_argument', url);
    assert.doesNotMatch(res.body, /%ZZ|%A4|FST_/, url);
  }
});

test('GET / and GET /ui redirect to /ui/ (and only there)', async () => {
  for (const url of ['/', '/ui']) {
    const res = await server.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 302, url);
    assert.equal(res.headers.location, '/ui/', url);
  }
  // A query string is not carried into the redirect (no open redirect through /?next=…).
  const res = await server.inject({ method: 'GET', url: '/ui?next=https://evil.example/' });
  assert.equal(res.headers.location, '/ui/');
});

test('no path leaves the build folder: traversal, encoded traversal and symlinks', async () => {
  for (const url of [
    '/ui/../outside.txt',
    '/ui/%2e%2e/outside.txt',
    '/ui/..%2foutside.txt',
    '/ui/assets/..%2f..%2foutside.txt',
    '/ui/%2e%2e%2f%2e%2e%2fpackage.json',
    '/ui/assets/%2e%2e/%2e%2e/outside.txt',
    '/ui/link.txt',
    '/ui//etc/passwd',
    '/ui/%00',
    '/ui/%E0%A4%A',
    '/ui/assets/%ff',
  ]) {
    const res = await server.inject({ method: 'GET', url });
    assert.doesNotMatch(res.body, /outside the build|root:|"name": "coffer"/, url);
    // A malformed percent-encoding is Fastify's 400 (a JSON error body), never a 500.
    assert.ok(
      res.statusCode === 400 || res.statusCode === 404 || (res.statusCode === 200 && res.body === index),
      `${url}: ${res.statusCode}`,
    );
  }
});

test('/ui routes need no token and leave the /v2 API as it was', async () => {
  const api = await server.inject({ method: 'GET', url: '/v2/projects' });
  assert.equal(api.statusCode, 401);
  assert.equal(api.headers['content-security-policy'], undefined);
  const other = await server.inject({ method: 'GET', url: '/uix' });
  assert.equal(other.statusCode, 404);
  assert.equal(JSON.parse(other.body).error.code, 'not_found');
});

test('a server without a built console answers a clear 404 text and keeps running', async () => {
  for (const url of ['/ui/', '/ui/projects', '/ui/assets/app-Ab12Cd.js']) {
    const res = await bare.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 404, url);
    assert.equal(res.body, 'console not built: run npm run build:ui\n');
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assertSecurityHeaders(res.headers, url);
  }
  const health = await bare.inject({ method: 'GET', url: '/v2/health' });
  assert.equal(health.statusCode, 200);
});

test('a rebuild while the server runs is picked up (the index changes, new assets are served)', async () => {
  const newIndex = index.replace('app-Ab12Cd', 'app-Zz99Yy');
  writeFileSync(join(built, 'assets', 'app-Zz99Yy.js'), 'console.log(2);');
  writeFileSync(join(built, 'index.html'), newIndex);
  const later = new Date(Date.now() + 5000);
  utimesSync(join(built, 'index.html'), later, later);
  const res = await server.inject({ method: 'GET', url: '/ui/' });
  assert.equal(res.body, newIndex);
  const asset = await server.inject({ method: 'GET', url: '/ui/assets/app-Zz99Yy.js' });
  assert.equal(asset.statusCode, 200);
  assert.equal(asset.body, 'console.log(2);');
});
