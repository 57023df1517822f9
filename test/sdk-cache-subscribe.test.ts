import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { secretChangeScope } from '../src/sdk/secret-change-scope.ts';
import {
  CachedSecretReader,
  type ChangeEvent,
  type ChangeStreamOptions,
  CofferApiError,
  CofferClient,
  CofferConnectionError,
  type InstanceRef,
  type SecretValueView,
} from '../src/sdk/index.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

const instance: InstanceRef = { projectId: 'p', regionId: 'local', instanceId: 'app' };
const instanceName = 'projects/p/regions/local/instances/app';

let cursor = 100;
function change(type: string, resource: string): ChangeEvent {
  cursor++;
  return { cursor: String(cursor), time: new Date().toISOString(), type, resource, principal: 'user:a@b.c' };
}
const secretChange = (path: string) =>
  change('version.added', `${instanceName}/secrets/${encodeURIComponent(path)}`);

/** Stand-ins for client.secrets and client.changes, scripted by each test. */
function scriptedClient() {
  const values = new Map<string, string>([
    ['prod/db', 'db-1'],
    ['other', 'other-1'],
  ]);
  const queue: Array<ChangeEvent | Error> = [];
  let wake: (() => void) | undefined;
  const client = {
    values,
    reads: 0,
    hold: undefined as Promise<void> | undefined,
    lists: 0,
    streams: [] as ChangeStreamOptions[],
    /** Delivers a change (or an error that ends the current stream). */
    push(item: ChangeEvent | Error) {
      queue.push(item);
      wake?.();
    },
    secrets: {
      getSecretValue: async (ref: { secret: string }): Promise<SecretValueView> => {
        client.reads++;
        const value = values.get(ref.secret) ?? '';
        await client.hold;
        return { value, version: 1, stages: ['current'], createTime: new Date(0).toISOString() };
      },
    },
    changes: {
      list: async () => {
        client.lists++;
        return { items: [], nextCursor: String(cursor) };
      },
      stream(_project: unknown, options: ChangeStreamOptions = {}): AsyncIterable<ChangeEvent> {
        client.streams.push(options);
        const signal = options.signal!;
        return (async function* () {
          while (!signal.aborted) {
            const next = queue.shift();
            if (next instanceof Error) throw next;
            if (next !== undefined) {
              yield next;
              continue;
            }
            await new Promise<void>((resolve) => {
              wake = resolve;
              signal.addEventListener('abort', () => resolve(), { once: true });
            });
          }
        })();
      },
    },
  };
  return client;
}

/** Polls until `check` holds, 2 s at most (no fixed sleeps). */
async function waitFor(check: () => boolean | Promise<boolean>, deadlineMs = 2000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('secretChangeScope', () => {
  test('a change on a cached secret (its URL-encoded path, or below it) concerns that secret', () => {
    assert.deepEqual(secretChangeScope(instance, secretChange('prod/db')), {
      kind: 'secret',
      path: 'prod/db',
    });
    const version = change('version.disabled', `${instanceName}/secrets/prod%2Fdb/versions/2`);
    assert.deepEqual(secretChangeScope(instance, version), { kind: 'secret', path: 'prod/db' });
  });

  test('the instance, the project and a key of the region losing its use concern every value', () => {
    for (const c of [
      change('instance.key_switched', instanceName),
      change('iam.policy_changed', 'projects/p'),
      change('key.disabled', 'projects/p/regions/local/keyrings/r/keys/k'),
      change('key_version.destroyed', 'projects/p/regions/local/keyrings/r/keys/k'),
    ])
      assert.deepEqual(secretChangeScope(instance, c), { kind: 'all' }, c.type);
  });

  test('another instance (even one whose id starts the same), another region or a new key concern none', () => {
    for (const c of [
      change('version.added', 'projects/p/regions/local/instances/app2/secrets/prod%2Fdb'),
      change('instance.key_switched', 'projects/p/regions/local/instances/app2'),
      change('key.disabled', 'projects/p/regions/eu/keyrings/r/keys/k'),
      change('key.created', 'projects/p/regions/local/keyrings/r/keys/k'),
    ])
      assert.deepEqual(secretChangeScope(instance, c), { kind: 'none' }, c.resource);
  });
});

describe('CachedSecretReader({ subscribe: true }) (scripted feed)', () => {
  test('the feed starts with the first read, from the head; a change on a cached secret re-reads it at once', async () => {
    const client = scriptedClient();
    const reader = new CachedSecretReader({ client, instance, ttlMs: 60_000, subscribe: true });
    try {
      assert.equal(client.lists, 0, 'nothing is followed before the first read');
      assert.equal(await reader.getText('prod/db'), 'db-1');
      assert.equal(await reader.getText('other'), 'other-1');
      assert.equal(client.lists, 1);
      assert.equal(client.streams[0]!.after, String(cursor));

      client.values.set('prod/db', 'db-2');
      client.push(secretChange('prod/db'));
      await waitFor(() => client.reads === 3);
      await waitFor(async () => (await reader.getText('prod/db')) === 'db-2');
      assert.equal(await reader.getText('other'), 'other-1');
      const stats = reader.stats();
      assert.equal(client.reads, 3, 'only the changed secret was read again');
      assert.deepEqual([stats.feedEvents, stats.feedRefreshes], [1, 1]);
    } finally {
      await reader.close();
    }
  });

  test('a read in flight when its secret changes is not kept: the next read gets the new value', async () => {
    const client = scriptedClient();
    const reader = new CachedSecretReader({ client, instance, subscribe: true });
    try {
      await reader.getText('other');
      let release!: () => void;
      client.hold = new Promise((resolve) => (release = resolve));
      const first = reader.getText('prod/db');
      await waitFor(() => client.reads === 2);
      client.values.set('prod/db', 'db-2');
      client.push(secretChange('prod/db'));
      await waitFor(() => reader.stats().feedEvents === 1);
      client.hold = undefined;
      release();
      assert.equal(await first, 'db-1', 'asked before the change');
      assert.equal(await reader.getText('prod/db'), 'db-2');
    } finally {
      await reader.close();
    }
  });

  test('an instance key switch makes every value be read again on its next use, not all at once', async () => {
    const client = scriptedClient();
    const reader = new CachedSecretReader({ client, instance, subscribe: true });
    try {
      await reader.getText('prod/db');
      await reader.getText('other');
      client.push(change('instance.key_switched', instanceName));
      await waitFor(() => reader.stats().feedRefreshes === 2);
      assert.equal(client.reads, 2);
      client.values.set('other', 'other-2');
      assert.equal(await reader.getText('other'), 'other-2');
      assert.equal(client.reads, 3);
    } finally {
      await reader.close();
    }
  });

  test('gone drops every value and follows again from the head', async () => {
    const client = scriptedClient();
    const reader = new CachedSecretReader({ client, instance, subscribe: true });
    try {
      await reader.getText('prod/db');
      client.push(new CofferApiError(410, 'gone', 'pruned', 'r', undefined, { oldestCursor: '1' }));
      await waitFor(() => client.streams.length === 2);
      assert.equal(reader.stats().size, 0);
      assert.equal(client.lists, 2);
      assert.equal(reader.stats().feedReconnects, 1);
      await reader.getText('prod/db');
      assert.equal(client.reads, 2);
    } finally {
      await reader.close();
    }
  });

  test('a feed that cannot start does not hold reads back', async () => {
    const client = scriptedClient();
    client.changes.list = () =>
      Promise.reject(new CofferConnectionError('network', 'http://x', 'r', 1, 'ECONNREFUSED'));
    const errors: Error[] = [];
    const reader = new CachedSecretReader({
      client,
      instance,
      subscribe: true,
      onFeedError: (e) => errors.push(e),
    });
    try {
      assert.equal(await reader.getText('prod/db'), 'db-1');
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof CofferConnectionError);
    } finally {
      await reader.close();
    }
  });

  test('while the feed fails, the TTL still refreshes values; the error is reported; close() stops it', async () => {
    const client = scriptedClient();
    const errors: Error[] = [];
    let now = 1_000_000;
    const reader = new CachedSecretReader({
      client,
      instance,
      subscribe: true,
      ttlMs: 1000,
      staleWhileRevalidateMs: 0,
      now: () => now,
      onFeedError: (err) => errors.push(err),
    });
    await reader.getText('prod/db');
    client.push(new CofferApiError(401, 'unauthenticated', 'no', 'r'));
    await waitFor(() => errors.length === 1);
    assert.equal((errors[0] as CofferApiError).code, 'unauthenticated');
    client.values.set('prod/db', 'db-2');
    now += 1000;
    assert.equal(await reader.getText('prod/db'), 'db-2');
    await reader.close(); // returns although the feed was waiting out its backoff
    assert.equal(client.streams.length, 1);
  });
});

describe('CachedSecretReader({ subscribe: true }) against a real node', () => {
  let node: TestNode;
  let client: CofferClient;
  let ref: InstanceRef;

  before(async () => {
    node = await startTestNode();
    client = new CofferClient({ address: node.url, token: node.adminToken });
    const project = await client.projects.create({ displayName: 'feed' });
    const region = { projectId: project.id, regionId: 'local' };
    const created = await client.secrets.createInstance(region, { name: 'main' });
    ref = { ...region, instanceId: created.id };
    await client.secrets.createSecret(ref, { path: 'app/db', value: 'first' });
    await client.secrets.createSecret(ref, { path: 'app/other', value: 'other' });
  });
  after(() => node?.destroy());

  test('a put on a cached secret is seen by a subscribed reader within 1 s, with a 1 h TTL', async () => {
    const reader = new CachedSecretReader({ client, instance: ref, ttlMs: 3_600_000, subscribe: true });
    try {
      assert.equal(await reader.getText('app/db'), 'first');
      assert.equal(await reader.getText('app/other'), 'other');
      const fetchesBefore = reader.stats().fetches;
      await client.secrets.putSecretValue({ ...ref, secret: 'app/db' }, { value: 'rotated' });
      const putAt = Date.now();
      await waitFor(async () => (await reader.getText('app/db')) === 'rotated', 1000);
      assert.ok(Date.now() - putAt <= 1000);
      assert.equal(await reader.getText('app/other'), 'other');
      const stats = reader.stats();
      assert.ok(stats.feedEvents >= 1);
      assert.equal(stats.fetches - fetchesBefore, 1, 'one re-read, of the changed secret only');
    } finally {
      await reader.close();
    }
  });

  test('list and stream give the same changes, metadata only; a bad cursor is thrown, not retried', async () => {
    const project = { projectId: ref.projectId };
    const resource = `projects/${ref.projectId}/regions/local/instances/${ref.instanceId}/secrets/app%2Fdb`;
    const page = await client.changes.list(project, { after: '0', resource });
    assert.deepEqual(
      page.items.map((c) => c.type),
      ['secret.created', 'version.added'],
    );
    assert.equal(page.nextCursor, page.items.at(-1)!.cursor);
    assert.ok(page.items.every((c) => c.resource === resource));
    assert.ok(!/first|rotated/.test(JSON.stringify(page)), 'no value in the feed');
    const streamed: ChangeEvent[] = [];
    for await (const c of client.changes.stream(project, { after: '0', resource })) {
      streamed.push(c);
      if (streamed.length === page.items.length) break;
    }
    assert.deepEqual(streamed, page.items);
    await assert.rejects(
      (async () => {
        for await (const c of client.changes.stream(project, { after: 'nope' })) void c;
      })(),
      (err) => err instanceof CofferApiError && err.code === 'invalid_argument',
    );
  });

  test('a reader whose feed connection is cut catches up with Last-Event-ID once the server is back', async () => {
    const proxy = await startTcpProxy('127.0.0.1', Number(new URL(node.url).port));
    const viaProxy = new CofferClient({ address: `http://127.0.0.1:${proxy.port}`, token: node.adminToken });
    const reader = new CachedSecretReader({
      client: viaProxy,
      instance: ref,
      ttlMs: 3_600_000,
      subscribe: true,
    });
    try {
      await client.secrets.createSecret(ref, { path: 'app/cut', value: 'before' });
      assert.equal(await reader.getText('app/cut'), 'before');
      await proxy.cut();
      await client.secrets.putSecretValue({ ...ref, secret: 'app/cut' }, { value: 'during' });
      assert.equal(await reader.getText('app/cut'), 'before', 'the cached value is served while cut off');
      await proxy.restore();
      await waitFor(async () => (await reader.getText('app/cut')) === 'during', 10_000);
      assert.ok(reader.stats().feedReconnects >= 1);
    } finally {
      await reader.close();
      await proxy.close();
    }
  });
});
