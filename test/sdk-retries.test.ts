import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { CofferApiError, CofferClient, CofferConnectionError, parseRetryAfterMs } from '../src/sdk/index.ts';

/** What the fake server saw of one request. */
interface Seen {
  method: string;
  url: string;
  requestId: string | undefined;
  idempotencyKey: string | undefined;
  atMs: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, attempt: number) => void;

/** A local HTTP server whose answers each test scripts, recording every request it gets. */
class FakeServer {
  server: Server;
  url = '';
  seen: Seen[] = [];
  handler: Handler = (_req, res) => res.end('{}');

  constructor() {
    this.server = createServer((req, res) => {
      const header = (name: string) => {
        const value = req.headers[name];
        return typeof value === 'string' ? value : undefined;
      };
      this.seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        requestId: header('x-request-id'),
        idempotencyKey: header('idempotency-key'),
        atMs: Date.now(),
      });
      req.resume();
      req.on('end', () => this.handler(req, res, this.seen.length));
    });
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    this.url = `http://127.0.0.1:${address.port}`;
  }

  /** Scripts the answers: `handler` sees the 1-based attempt number. */
  reset(handler: Handler): void {
    this.seen = [];
    this.handler = handler;
  }
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const errorBody = (code: string) => ({
  error: { code, message: `${code} happened`, requestId: 'server-id' },
});
const secret = { projectId: 'p', regionId: 'local', instanceId: 'i', secret: 'prod/db' };

describe('SDK retries, timeouts and request ids (against a scripted local server)', () => {
  const fake = new FakeServer();
  const client = (options: { timeoutMs?: number; maxAttempts?: number; maxRetryAfterMs?: number } = {}) =>
    new CofferClient({
      address: fake.url,
      token: 'cfr_test',
      timeoutMs: options.timeoutMs ?? 2_000,
      retry: {
        maxAttempts: options.maxAttempts ?? 4,
        baseDelayMs: 10,
        maxDelayMs: 50,
        ...(options.maxRetryAfterMs !== undefined ? { maxRetryAfterMs: options.maxRetryAfterMs } : {}),
      },
    });

  before(() => fake.start());
  after(() => {
    fake.server.closeAllConnections();
    fake.server.close();
  });

  test('503 twice then 200: the call succeeds on the third attempt with one X-Request-Id throughout', async () => {
    fake.reset((_req, res, attempt) =>
      attempt < 3
        ? json(res, 503, errorBody('audit_unavailable'))
        : json(res, 200, { value: 'v', version: 1 }),
    );
    const value = await client().secrets.getSecretValue(secret);
    assert.equal(value.value, 'v');
    assert.equal(fake.seen.length, 3);
    const ids = new Set(fake.seen.map((s) => s.requestId));
    assert.equal(ids.size, 1);
    assert.match([...ids][0]!, /^[0-9a-f-]{36}$/);
    assert.equal(
      fake.seen[0]!.url,
      '/v2/projects/p/regions/local/instances/i/secrets/prod%2Fdb/value?version=latest',
    );
  });

  test('each logical call gets its own request id, and a caller-chosen one is sent as given', async () => {
    fake.reset((_req, res) => json(res, 200, { items: [] }));
    await client().projects.list();
    await client().projects.list();
    await client().projects.list({}, { requestId: 'my-trace-1' });
    assert.notEqual(fake.seen[0]!.requestId, fake.seen[1]!.requestId);
    assert.equal(fake.seen[2]!.requestId, 'my-trace-1');
  });

  test('429 with Retry-After: the retry waits at least that long', async () => {
    fake.reset((_req, res, attempt) =>
      attempt === 1
        ? json(res, 429, errorBody('rate_limited'), { 'retry-after': '1' })
        : json(res, 200, { items: [] }),
    );
    await client().projects.list();
    assert.equal(fake.seen.length, 2);
    assert.ok(fake.seen[1]!.atMs - fake.seen[0]!.atMs >= 990, 'retried sooner than Retry-After');
  });

  test('a Retry-After longer than maxRetryAfterMs is not waited for: the 429 is thrown at once', async () => {
    fake.reset((_req, res) => json(res, 429, errorBody('rate_limited'), { 'retry-after': '120' }));
    const started = Date.now();
    await assert.rejects(client({ maxRetryAfterMs: 1_000 }).projects.list(), (err: unknown) => {
      assert.ok(err instanceof CofferApiError);
      assert.equal(err.status, 429);
      assert.equal(err.code, 'rate_limited');
      assert.equal(err.retryAfterSeconds, 120);
      return true;
    });
    assert.equal(fake.seen.length, 1);
    assert.ok(Date.now() - started < 1_000);
  });

  test('after maxAttempts the last error is thrown with its code and request id', async () => {
    fake.reset((_req, res) => json(res, 503, errorBody('sealed')));
    await assert.rejects(client({ maxAttempts: 3 }).projects.list(), (err: unknown) => {
      assert.ok(err instanceof CofferApiError);
      assert.equal(err.code, 'sealed');
      assert.equal(err.requestId, 'server-id');
      return true;
    });
    assert.equal(fake.seen.length, 3);
  });

  test('4xx answers and 503 kms_unavailable (a configuration fact) are not retried', async () => {
    for (const [status, code] of [
      [400, 'invalid_argument'],
      [403, 'permission_denied'],
      [404, 'not_found'],
      [503, 'kms_unavailable'],
    ] as const) {
      fake.reset((_req, res) => json(res, status, errorBody(code)));
      await assert.rejects(client().secrets.getSecret(secret), { code, status });
      assert.equal(fake.seen.length, 1, code);
    }
  });

  test('putSecretValue sends one Idempotency-Key on every retry of a call, a new one per call', async () => {
    fake.reset((_req, res, attempt) =>
      attempt === 1 ? json(res, 503, errorBody('audit_unavailable')) : json(res, 201, { version: 7 }),
    );
    const answer = await client().secrets.putSecretValue(secret, { value: 'x' });
    assert.deepEqual(answer, { version: 7 });
    assert.equal(fake.seen.length, 2);
    assert.equal(fake.seen[0]!.method, 'PUT');
    assert.ok(fake.seen[0]!.idempotencyKey);
    assert.equal(fake.seen[0]!.idempotencyKey, fake.seen[1]!.idempotencyKey);
    const firstKey = fake.seen[0]!.idempotencyKey;

    fake.reset((_req, res) => json(res, 201, { version: 8 }));
    await client().secrets.putSecretValue(secret, { value: 'y' });
    await client().secrets.putSecretValue(secret, { value: 'y' }, { idempotencyKey: 'chosen-key' });
    assert.ok(fake.seen[0]!.idempotencyKey);
    assert.notEqual(fake.seen[0]!.idempotencyKey, firstKey);
    assert.equal(fake.seen[1]!.idempotencyKey, 'chosen-key');
  });

  test('a put whose answer is lost (connection dropped) is retried with the same key', async () => {
    fake.reset((req, res, attempt) => {
      if (attempt === 1) {
        req.socket.destroy();
        return;
      }
      json(res, 201, { version: 3 });
    });
    assert.deepEqual(await client().secrets.putSecretValue(secret, { value: 'z' }), { version: 3 });
    assert.equal(fake.seen.length, 2);
    assert.equal(fake.seen[0]!.idempotencyKey, fake.seen[1]!.idempotencyKey);
  });

  test('a POST that is not idempotent is not repeated after a network error', async () => {
    fake.reset((req) => req.socket.destroy());
    await assert.rejects(
      client().secrets.createSecret(secret, { path: 'prod/db', value: 'x' }),
      (err: unknown) => err instanceof CofferConnectionError && err.kind === 'network' && err.attempts === 1,
    );
    assert.equal(fake.seen.length, 1);
  });

  test('a GET with no answer times out per attempt, is retried, then fails as a timeout', async () => {
    fake.reset(() => undefined);
    const started = Date.now();
    await assert.rejects(client({ timeoutMs: 150, maxAttempts: 2 }).projects.list(), (err: unknown) => {
      assert.ok(err instanceof CofferConnectionError);
      assert.equal(err.kind, 'timeout');
      assert.equal(err.attempts, 2);
      return true;
    });
    assert.equal(fake.seen.length, 2);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 300 && elapsed < 2_000, `elapsed ${elapsed} ms`);
  });

  test('an unreachable address fails with a connection error naming it', async () => {
    const closed = new CofferClient({
      address: 'http://127.0.0.1:9',
      retry: { maxAttempts: 2, baseDelayMs: 1 },
    });
    await assert.rejects(closed.projects.list(), (err: unknown) => {
      assert.ok(err instanceof CofferConnectionError);
      assert.equal(err.kind, 'network');
      assert.match(err.message, /127\.0\.0\.1:9/);
      return true;
    });
  });

  test("the caller's AbortSignal stops a call, waiting retries included", async () => {
    fake.reset((_req, res) => json(res, 503, errorBody('sealed'), { 'retry-after': '5' }));
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 100);
    const started = Date.now();
    await assert.rejects(client().projects.list({}, { signal: controller.signal }), /stop/);
    assert.ok(Date.now() - started < 2_000);
    assert.equal(fake.seen.length, 1);
  });

  test('Retry-After is read as seconds or as an HTTP date', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    assert.equal(parseRetryAfterMs('3', now), 3_000);
    assert.equal(parseRetryAfterMs('Tue, 01 Jan 2030 00:00:10 GMT', now), 10_000);
    assert.equal(parseRetryAfterMs(null, now), undefined);
    assert.equal(parseRetryAfterMs('soon', now), undefined);
  });
});
