import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChangeStream } from '../src/app/change-stream.ts';
import type { Principal } from '../src/iam/principal.ts';
import { changeStatement } from '../src/storage/change-log.ts';
import { openSse, type SseConnection } from './support/sse-client.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

describe('change streams: per-caller limits and catch-up budget', () => {
  let node: TestNode;
  let admin: string;
  let projectId: string;
  const open: SseConnection[] = [];
  const post = (path: string, body: unknown = {}) => call(node.url, 'POST', path, { token: admin, body });
  async function tokenOf(name: string): Promise<{ email: string; token: string }> {
    const email = (await post(`/v2/projects/${projectId}/service-accounts`, { name })).body.email;
    const path = `/v2/projects/${projectId}/service-accounts/${encodeURIComponent(email)}/tokens`;
    return { email, token: (await post(path)).body.token };
  }
  async function stream(token: string, project = 'someone-elses'): Promise<SseConnection> {
    const sse = await openSse(`${node.url}/v2/projects/${project}/changes:stream?after=latest`, {
      authorization: `Bearer ${token}`,
    });
    open.push(sse);
    return sse;
  }

  before(async () => {
    node = await startTestNode({
      env: { COFFER_CHANGE_STREAMS_PER_PRINCIPAL: '2', COFFER_CHANGE_STREAMS_PER_ADDRESS: '3' },
    });
    admin = node.adminToken!;
    projectId = (await post('/v2/projects', { displayName: 'streams' })).body.id;
  });
  after(async () => {
    for (const sse of open) sse.close();
    await node?.destroy();
  });

  test('a principal past its open-stream limit, or an address past its own, gets 429 rate_limited with Retry-After', async () => {
    const a = (await tokenOf('stream-a')).token;
    const b = (await tokenOf('stream-b')).token;
    const first = await stream(a);
    assert.equal(first.status, 200);
    assert.equal((await stream(a)).status, 200);
    const third = await stream(a);
    assert.equal(third.status, 429);
    assert.equal((third.errorBody as { error: { code: string } }).error.code, 'rate_limited');
    assert.ok(Number(third.headers.get('retry-after')) > 0);
    // Another principal from the same address: the address holds 3 at most.
    assert.equal((await stream(b)).status, 200);
    assert.equal((await stream(b)).status, 429);
    // A closed stream frees its slots.
    first.close();
    let reopened = 0;
    for (let i = 0; i < 50 && reopened !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const sse = await stream(a);
      reopened = sse.status;
    }
    assert.equal(reopened, 200);
  });

  test('a client that leaves while its stream is starting does not keep the slot', async () => {
    for (const sse of open.splice(0)) sse.close(); // the address's slots are free again
    const { token } = await tokenOf('stream-leaver');
    const feed = node.app.changeFeed;
    const startOf = feed.startOf.bind(feed);
    // A slow start (a busy database): the client gives up first, twice (the principal's limit).
    feed.startOf = async (start) => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return startOf(start);
    };
    try {
      for (let i = 0; i < 2; i++) {
        const url = `${node.url}/v2/projects/someone-elses/changes:stream?after=latest`;
        const headers = { authorization: `Bearer ${token}` };
        await fetch(url, { headers, signal: AbortSignal.timeout(50) }).catch(() => undefined);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      feed.startOf = startOf;
    }
    assert.equal((await stream(token)).status, 200);
  });

  test('a stream catches up at most the page budget (5,000 changes) per poll interval', async () => {
    const from = Number(
      (
        await call(node.url, 'GET', `/v2/projects/${projectId}/changes?after=latest`, {
          token: admin,
        })
      ).body.nextCursor,
    );
    const db = node.app.storage.db;
    for (let i = 0; i < 12; i++)
      await node.app.storage.write(
        Array.from({ length: 500 }, (_, j) =>
          changeStatement(db, {
            type: 'version.added',
            resource: `projects/${projectId}/regions/local/instances/x/secrets/s${i * 500 + j}`,
            projectId,
            principal: 'user:admin@coffer.internal',
            timeMs: Date.now(),
            version: 2,
          }),
        ),
      );
    for (let k = 0; k < 10; k++) await node.app.syncChanges();
    const { email } = await tokenOf('stream-stranger');
    let ended = false;
    const catchingUp = new ChangeStream(
      {
        storage: node.app.storage,
        follower: node.app.changeFollower,
        feed: node.app.changeFeed,
        catchUpPauseMs: 60_000,
      },
      { principal: `serviceAccount:${email}` as Principal, projectId, after: from },
      { send: () => true, end: () => void (ended = true) },
    );
    catchingUp.start();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const scanned = catchingUp.position - from;
    catchingUp.close();
    assert.ok(scanned >= 5000 && scanned < 6000, `caught up ${scanned} changes before pausing`);
    assert.ok(ended);
  });
});
