import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestNode, type TestNode } from './support/test-node.ts';

/** A raw TCP client: what it received, and when the server closed the connection. */
interface RawClient {
  readonly socket: Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves with the milliseconds from connect to close. */
  readonly closed: Promise<number>;
}

async function rawConnect(url: string): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const started = Date.now();
  let data = '';
  socket.on('data', (chunk: Buffer) => {
    data += chunk.toString('latin1');
  });
  socket.on('error', () => undefined);
  const closed = once(socket, 'close').then(() => Date.now() - started);
  await once(socket, 'connect');
  return { socket, received: () => data, closed };
}

/** Writes one byte at a time, every `everyMs`, until the socket closes or the bytes run out. */
async function dribble(client: RawClient, text: string, everyMs: number): Promise<void> {
  for (const char of text) {
    if (client.socket.destroyed || !client.socket.writable) return;
    client.socket.write(char);
    await sleep(everyMs);
  }
}

function parseResponse(raw: string): {
  status: number;
  headers: string;
  body: { error: Record<string, string> };
} {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  return { status, headers: head.toLowerCase(), body: JSON.parse(body) };
}

describe('the listener bounds slow and greedy clients', () => {
  let node: TestNode;
  before(async () => {
    node = await startTestNode({
      env: {
        COFFER_HEADERS_TIMEOUT_MS: '1000',
        COFFER_REQUEST_TIMEOUT_MS: '1000',
        COFFER_KEEP_ALIVE_TIMEOUT_MS: '500',
        COFFER_MAX_CONNECTIONS_PER_ADDRESS: '3',
      },
    });
  });
  after(async () => {
    await node.destroy();
  });

  test('a body sent one byte at a time is cut off with 408 request_timeout within requestTimeoutMs', async () => {
    const client = await rawConnect(node.url);
    client.socket.write(
      'POST /v2/sys/unseal HTTP/1.1\r\nHost: coffer\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n',
    );
    void dribble(client, '{"key":"' + 'a'.repeat(190), 200);
    const closedAfterMs = await Promise.race([client.closed, sleep(5000).then(() => Infinity)]);
    client.socket.destroy();
    assert.ok(closedAfterMs < 3000, `the socket stayed open ${closedAfterMs} ms`);
    const answer = parseResponse(client.received());
    assert.equal(answer.status, 408);
    assert.equal(answer.body.error.code, 'request_timeout');
    assert.match(answer.body.error.requestId ?? '', /^[0-9a-f-]{36}$/);
    assert.match(answer.headers, new RegExp(`x-request-id: ${answer.body.error.requestId}`));
  });

  test('headers sent one byte at a time are cut off with 408 within headersTimeoutMs', async () => {
    const client = await rawConnect(node.url);
    client.socket.write('GET /v2/health HTTP/1.1\r\nHost: coffer\r\n');
    void dribble(client, 'X-Slow: ' + 'z'.repeat(100), 200);
    const closedAfterMs = await Promise.race([client.closed, sleep(5000).then(() => Infinity)]);
    client.socket.destroy();
    assert.ok(closedAfterMs < 3000, `the socket stayed open ${closedAfterMs} ms`);
    assert.equal(parseResponse(client.received()).body.error.code, 'request_timeout');
  });

  test('a connection that sends nothing is closed within headersTimeoutMs', async () => {
    const client = await rawConnect(node.url);
    const closedAfterMs = await Promise.race([client.closed, sleep(5000).then(() => Infinity)]);
    client.socket.destroy();
    assert.ok(closedAfterMs < 3000, `the socket stayed open ${closedAfterMs} ms`);
  });

  test('an idle keep-alive connection is closed after keepAliveTimeoutMs', async () => {
    const client = await rawConnect(node.url);
    client.socket.write('GET /v2/health HTTP/1.1\r\nHost: coffer\r\n\r\n');
    const closedAfterMs = await Promise.race([client.closed, sleep(5000).then(() => Infinity)]);
    client.socket.destroy();
    assert.match(client.received(), /^HTTP\/1\.1 200 /);
    assert.ok(closedAfterMs < 2000, `the socket stayed open ${closedAfterMs} ms`);
  });

  test('the connection over maxConnectionsPerAddress from one address is closed; the others keep working', async () => {
    const held = [await rawConnect(node.url), await rawConnect(node.url), await rawConnect(node.url)];
    const extra = await rawConnect(node.url);
    const extraClosed = await Promise.race([extra.closed, sleep(2000).then(() => Infinity)]);
    assert.ok(extraClosed < 2000, 'the fourth connection was not closed');
    assert.equal(extra.received(), '');
    for (const client of held) {
      client.socket.write('GET /v2/health HTTP/1.1\r\nHost: coffer\r\nConnection: close\r\n\r\n');
      await client.closed;
      assert.match(client.received(), /^HTTP\/1\.1 200 /);
    }
    // Their sockets are closed now, so a new connection is served again.
    const again = await rawConnect(node.url);
    again.socket.write('GET /v2/health HTTP/1.1\r\nHost: coffer\r\nConnection: close\r\n\r\n');
    await again.closed;
    assert.match(again.received(), /^HTTP\/1\.1 200 /);
  });
});

describe('errors of the HTTP parser answer in Coffer’s error shape', () => {
  let node: TestNode;
  before(async () => {
    node = await startTestNode();
  });
  after(async () => {
    await node.destroy();
  });

  async function send(raw: string): Promise<ReturnType<typeof parseResponse>> {
    const client = await rawConnect(node.url);
    client.socket.write(raw);
    await client.closed;
    return parseResponse(client.received());
  }

  test('a malformed request line is 400 invalid_argument with a request id', async () => {
    const answer = await send('NOT HTTP AT ALL\r\n\r\n');
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.code, 'invalid_argument');
    assert.ok(answer.body.error.message);
    assert.match(answer.body.error.requestId ?? '', /^[0-9a-f-]{36}$/);
    assert.match(answer.headers, /content-type: application\/json/);
  });

  test('headers over the size limit are 431 invalid_argument', async () => {
    const answer = await send(
      `GET /v2/health HTTP/1.1\r\nHost: coffer\r\nX-Big: ${'b'.repeat(20000)}\r\n\r\n`,
    );
    assert.equal(answer.status, 431);
    assert.equal(answer.body.error.code, 'invalid_argument');
  });

  test('a malformed header is 400, and the token sent with it is in no log line', async () => {
    const token = 'cfr_parserlogcanary0123456789';
    const answer = await send(
      `GET /v2/projects HTTP/1.1\r\nAuthorization: Bearer ${token}\r\nbad header\r\n\r\n`,
    );
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.code, 'invalid_argument');
    await sleep(50);
    assert.ok(node.logLines.some((line) => line.includes('request refused before routing')));
    assert.ok(!node.logLines.some((line) => line.includes(token)));
  });
});
