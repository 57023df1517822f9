import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type ChangeEvent, CofferApiError, CofferClient, type ReconnectInfo } from '../src/sdk/index.ts';

const project = { projectId: 'p' };
const streamPath = '/v2/projects/p/changes:stream';

function change(cursor: number): ChangeEvent {
  return {
    cursor: String(cursor),
    time: '2026-12-07T15:30:00.000Z',
    type: 'version.added',
    resource: `projects/p/regions/local/instances/app/secrets/s${cursor}`,
    version: 1,
    principal: 'user:alice@example.com',
  };
}

const frame = (c: ChangeEvent) => `id: ${c.cursor}\nevent: change\ndata: ${JSON.stringify(c)}\n\n`;

/** Opens an event stream answer the way the server does. */
function openEvents(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
  res.write('retry: 1000\n: connected\n\n');
}

function errorAnswer(res: ServerResponse, status: number, error: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { requestId: 'r', ...error } }));
}

type Handler = (req: IncomingMessage, res: ServerResponse, connection: number) => void;

/** A local SSE server scripted per test; it records the Last-Event-ID and query of every request. */
class FakeFeed {
  readonly server: Server;
  url = '';
  seen: Array<{ path: string; lastEventId: string | undefined; query: URLSearchParams }> = [];
  closed = 0;
  handler: Handler = (_req, res) => res.end();

  constructor() {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const lastEventId = req.headers['last-event-id'];
      this.seen.push({
        path: url.pathname,
        lastEventId: typeof lastEventId === 'string' ? lastEventId : undefined,
        query: url.searchParams,
      });
      res.on('close', () => this.closed++);
      this.handler(req, res, this.seen.length);
    });
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    this.url = `http://127.0.0.1:${address.port}`;
  }
}

async function collect(iterable: AsyncIterable<ChangeEvent>, count: number): Promise<string[]> {
  const cursors: string[] = [];
  for await (const c of iterable) {
    cursors.push(c.cursor);
    if (cursors.length === count) break;
  }
  return cursors;
}

describe('client.changes against a fake SSE server', () => {
  const feed = new FakeFeed();
  let client: CofferClient;
  before(async () => {
    await feed.start();
    client = new CofferClient({ address: feed.url, token: 't0k3n' });
  });
  beforeEach(() => {
    feed.seen = [];
    feed.closed = 0;
  });
  after(async () => {
    feed.server.closeAllConnections();
    feed.server.close();
    await once(feed.server, 'close');
  });

  test('a stream dropped mid-event resumes with Last-Event-ID and delivers every change once, in order', async () => {
    feed.handler = (req, res, connection) => {
      openEvents(res);
      if (connection === 1) {
        res.write(frame(change(1)) + frame(change(2)) + frame(change(3)));
        // Half of change 4, then the connection dies.
        res.write(frame(change(4)).slice(0, 30), () => res.destroy());
        return;
      }
      // The resumed stream replays the last cursor it was given: the client must drop it.
      const from = Number(req.headers['last-event-id']);
      res.write([from, from + 1, from + 2, from + 3].map((n) => frame(change(n))).join(''));
    };
    const reconnects: ReconnectInfo[] = [];
    const cursors = await collect(
      client.changes.stream(project, {
        reconnect: { baseDelayMs: 20 },
        onReconnect: (info) => reconnects.push(info),
      }),
      6,
    );
    assert.deepEqual(cursors, ['1', '2', '3', '4', '5', '6']);
    assert.deepEqual(
      feed.seen.map((s) => s.lastEventId),
      [undefined, '3'],
    );
    assert.equal(reconnects.length, 1);
    assert.equal(reconnects[0]!.cursor, '3');
    assert.ok(reconnects[0]!.delayMs >= 10 && reconnects[0]!.delayMs <= 20);
    // Breaking out of the loop closed the connection.
    await waitFor(() => feed.closed === 2);
  });

  test('reconnects back off with bounded jitter, doubling per failure up to the maximum, and reset after a connection', async () => {
    feed.handler = (_req, res, connection) => {
      if (connection <= 4 || connection === 6)
        return errorAnswer(res, 503, { code: 'sealed', message: 'sealed' });
      openEvents(res);
      if (connection === 5) res.end(frame(change(1)));
      else res.write(frame(change(2)));
    };
    const reconnects: ReconnectInfo[] = [];
    const cursors = await collect(
      client.changes.stream(project, {
        reconnect: { baseDelayMs: 8, maxDelayMs: 40 },
        onReconnect: (info) => reconnects.push(info),
      }),
      2,
    );
    assert.deepEqual(cursors, ['1', '2']);
    // 4 refusals (ceilings 8, 16, 32, 40), the end of connection 5 (reset: 8), one more refusal (16).
    const ceilings = [8, 16, 32, 40, 8, 16];
    assert.deepEqual(
      reconnects.map((r) => r.attempt),
      [1, 2, 3, 4, 1, 2],
    );
    reconnects.forEach((r, i) =>
      assert.ok(r.delayMs >= ceilings[i]! / 2 && r.delayMs <= ceilings[i]!, `delay ${i}: ${r.delayMs}`),
    );
    assert.ok(reconnects[0]!.reason instanceof CofferApiError);
  });

  test('410 gone before the stream starts throws CofferApiError gone with the oldest cursor, without retrying', async () => {
    feed.handler = (_req, res) =>
      errorAnswer(res, 410, { code: 'gone', message: 'pruned', oldestCursor: '40' });
    await assert.rejects(collect(client.changes.stream(project, { after: '12' }), 1), (err) => {
      assert.ok(err instanceof CofferApiError);
      assert.equal(err.status, 410);
      assert.equal(err.code, 'gone');
      assert.equal(err.details.oldestCursor, '40');
      return true;
    });
    assert.equal(feed.seen.length, 1);
    assert.equal(feed.seen[0]!.lastEventId, '12');
  });

  test('gone sent inside the stream (event: error) ends it with the same error, after the changes before it', async () => {
    feed.handler = (_req, res) => {
      openEvents(res);
      const body = { error: { code: 'gone', message: 'pruned', oldestCursor: '9' } };
      res.end(`${frame(change(1))}event: error\ndata: ${JSON.stringify(body)}\n\n`);
    };
    const cursors: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of client.changes.stream(project)) cursors.push(c.cursor);
      })(),
      (err) => err instanceof CofferApiError && err.code === 'gone' && err.details.oldestCursor === '9',
    );
    assert.deepEqual(cursors, ['1']);
  });

  test('401 and 403 are thrown at once, not retried, and the token is never in the error', async () => {
    for (const [status, code] of [
      [401, 'unauthenticated'],
      [403, 'permission_denied'],
    ] as const) {
      feed.seen = [];
      feed.handler = (_req, res) => errorAnswer(res, status, { code, message: 'no' });
      await assert.rejects(
        collect(client.changes.stream(project, { reconnect: { baseDelayMs: 1 } }), 1),
        (err) => {
          assert.ok(err instanceof CofferApiError);
          assert.equal(err.code, code);
          assert.ok(!JSON.stringify({ ...err, message: err.message }).includes('t0k3n'));
          return true;
        },
      );
      assert.equal(feed.seen.length, 1);
    }
  });

  test('aborting the signal ends the iteration cleanly and closes the connection', async () => {
    feed.handler = (_req, res) => {
      openEvents(res);
      res.write(frame(change(1)));
    };
    const controller = new AbortController();
    const cursors: string[] = [];
    for await (const c of client.changes.stream(project, { signal: controller.signal })) {
      cursors.push(c.cursor);
      setTimeout(() => controller.abort(), 20);
    }
    assert.deepEqual(cursors, ['1']);
    await waitFor(() => feed.closed === 1);
    assert.equal(feed.seen.length, 1);
  });

  test('a silent connection (no heartbeat) is dropped after the idle timeout and made again', async () => {
    feed.handler = (req, res, connection) => {
      openEvents(res);
      if (connection === 2) res.write(frame(change(1)));
    };
    const cursors = await collect(
      client.changes.stream(project, { idleTimeoutMs: 100, reconnect: { baseDelayMs: 5 } }),
      1,
    );
    assert.deepEqual(cursors, ['1']);
    assert.equal(feed.seen.length, 2);
  });

  test('after: latest starts from the head cursor read from the list route; list passes its query', async () => {
    feed.handler = (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/v2/projects/p/changes') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ items: [], nextCursor: '77' }));
      }
      openEvents(res);
      res.write(frame(change(Number(req.headers['last-event-id']) + 1)));
    };
    assert.deepEqual(
      await collect(client.changes.stream(project, { after: 'latest', resource: 'projects/p/x' }), 1),
      ['78'],
    );
    assert.equal(feed.seen[0]!.query.get('after'), 'latest');
    assert.equal(feed.seen[1]!.path, streamPath);
    assert.equal(feed.seen[1]!.lastEventId, '77');
    assert.equal(feed.seen[1]!.query.get('resource'), 'projects/p/x');

    const page = await client.changes.list(project, { after: '5', pageSize: 2, resource: 'projects/p' });
    assert.deepEqual(page, { items: [], nextCursor: '77' });
    const listed = feed.seen[2]!.query;
    assert.deepEqual(
      [listed.get('after'), listed.get('pageSize'), listed.get('resource')],
      ['5', '2', 'projects/p'],
    );
  });
});

/** Polls `check` until it holds (2 s at most): the server sees a close a moment after the client. */
async function waitFor(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in 2 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
