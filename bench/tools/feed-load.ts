/**
 * The load side of `npm run bench -- --only feed` (bench/scenarios/feed.ts starts it pinned to the
 * load CPU): opens SUBSCRIBERS change streams (`GET …/changes:stream`, one keep-alive connection
 * each, node:http), prints `{"opened":N,…}`, waits for `go` on stdin, then makes CHANGES puts one at
 * a time and records when each stream received each one (the `version.added` event of the put's
 * version), prints the result as one JSON line, and closes the streams once stdin says `end`.
 * Arguments: one JSON object (see `Args`).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';

interface Args {
  readonly baseUrl: string;
  /** `/v2/projects/{p}/changes:stream?after=latest`. */
  readonly streamPath: string;
  /** Token of the subscribers (a service account that may read the secret). */
  readonly streamToken: string;
  /** `…/secrets/{path}/value`, PUT with the admin token. */
  readonly putPath: string;
  readonly putToken: string;
  readonly subscribers: number;
  readonly changes: number;
  /** A change not received by every stream within this long counts as missed where it was not. */
  readonly giveUpMs: number;
}

const args = JSON.parse(process.argv[2]!) as Args;
const url = new URL(args.baseUrl);
const streamAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const putAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (object: unknown) => process.stdout.write(`${JSON.stringify(object)}\n`);

/** Per stream: version → when its `version.added` event arrived (performance.now()). */
const arrivals: Map<number, number>[] = [];
const requests: http.ClientRequest[] = [];

function openStream(i: number): Promise<void> {
  const received = new Map<number, number>();
  arrivals[i] = received;
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        host: url.hostname,
        port: url.port,
        path: args.streamPath,
        agent: streamAgent,
        headers: { authorization: `Bearer ${args.streamToken}`, accept: 'text/event-stream' },
      },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`stream ${i} answered ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding('utf8');
        let pending = '';
        res.on('data', (chunk: string) => {
          const at = performance.now();
          pending += chunk;
          let end: number;
          while ((end = pending.indexOf('\n\n')) >= 0) {
            const event = pending.slice(0, end);
            pending = pending.slice(end + 2);
            if (event.startsWith(': connected') || event.includes('\n: connected')) resolve();
            const data = /^data: (.*)$/m.exec(event)?.[1];
            if (data === undefined || !data.includes('"version.added"')) continue;
            const version = (JSON.parse(data) as { version?: number }).version;
            if (version !== undefined && !received.has(version)) received.set(version, at);
          }
        });
        res.on('error', () => undefined);
      },
    );
    req.on('error', reject);
    requests.push(req);
  });
}

function put(value: string): Promise<number> {
  const body = JSON.stringify({ value });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: args.putPath,
        method: 'PUT',
        agent: putAgent,
        headers: {
          authorization: `Bearer ${args.putToken}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          if (res.statusCode !== 201) reject(new Error(`put answered ${res.statusCode}: ${text}`));
          else resolve((JSON.parse(text) as { version: number }).version);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const openStarted = performance.now();
let next = 0;
// At most 100 streams opening at once: the server audits each open.
await Promise.all(
  Array.from({ length: 100 }, async () => {
    while (next < args.subscribers) await openStream(next++);
  }),
);
say({ opened: args.subscribers, openMs: performance.now() - openStarted });
await lines.next(); // go

/** Per change: ms from the put's answer to each stream's receipt (missing streams left out). */
const perChange: { version: number; latencies: number[]; missing: number }[] = [];
for (let c = 0; c < args.changes; c++) {
  const version = await put(randomBytes(24).toString('base64'));
  const acked = performance.now();
  const deadline = acked + args.giveUpMs;
  while (arrivals.some((a) => !a.has(version)) && performance.now() < deadline) await delay(2);
  const latencies: number[] = [];
  for (const received of arrivals) {
    const at = received.get(version);
    if (at !== undefined) latencies.push(at - acked);
  }
  perChange.push({ version, latencies, missing: args.subscribers - latencies.length });
  await delay(100 + Math.random() * 100);
}
say({ perChange });
await lines.next(); // end
for (const req of requests) req.destroy();
streamAgent.destroy();
putAgent.destroy();
