import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { openSse } from './support/sse-client.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const enc = encodeURIComponent;
const adminPrincipal = 'user:admin@coffer.internal';
const secretValue = 'hunter2-never-in-the-feed';

interface Item {
  cursor: string;
  time: string;
  type: string;
  resource: string;
  version?: number;
  stage?: string;
  principal: string;
}

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `change feed (${engine})`,
    { skip: engine === 'postgres' ? (postgresSkip ?? false) : false },
    () => {
      let node: TestNode;
      let database: TestDatabase | undefined;
      let admin: string;
      let projectId: string;
      let instancePath: string;
      const clock = new ManualClock(Date.now());

      const api = (token: string | undefined, method: string, path: string, body?: unknown) =>
        call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
      const feedPath = () => `/v2/projects/${projectId}/changes`;
      const secretName = (path: string) => `${instancePath.slice('/v2/'.length)}/secrets/${enc(path)}`;
      /** The head cursor, once every change made so far has its cursor. */
      const head = async (): Promise<string> => {
        await node.app.syncChanges();
        return (await api(admin, 'GET', `${feedPath()}?after=latest`)).body.nextCursor;
      };
      /** Every item after `from` the token may see, following nextCursor to the end. */
      async function readAll(token: string, from: string): Promise<Item[]> {
        await node.app.syncChanges();
        const items: Item[] = [];
        let cursor = from;
        for (;;) {
          const page = await api(token, 'GET', `${feedPath()}?after=${cursor}&pageSize=50`);
          assert.equal(page.status, 200, JSON.stringify(page.body));
          items.push(...page.body.items);
          if (page.body.nextCursor === cursor) return items;
          cursor = page.body.nextCursor;
        }
      }
      async function created(
        method: string,
        path: string,
        body?: unknown,
      ): Promise<{ id: string; email: string }> {
        const res = await api(admin, method, path, body);
        assert.ok(res.status === 200 || res.status === 201, `${method} ${path}: ${JSON.stringify(res.body)}`);
        return res.body;
      }

      before(async () => {
        const env: Record<string, string> = {
          COFFER_CHANGE_STREAM_HEARTBEAT_MS: '100',
          COFFER_CHANGE_RETENTION_DAYS: '2',
        };
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        node = await startTestNode({ env, clock });
        admin = node.adminToken!;
        projectId = (await created('POST', '/v2/projects', { displayName: 'feed' })).id;
        const instance = await created('POST', `/v2/projects/${projectId}/regions/local/instances`, {
          name: 'main',
        });
        instancePath = `/v2/projects/${projectId}/regions/local/instances/${instance.id}`;
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('each change family is recorded with its type, resource and principal, and never a value', async () => {
        const from = await head();
        const ring = await created('POST', `/v2/projects/${projectId}/regions/local/keyrings`, {
          displayName: 'r',
        });
        const keysPath = `/v2/projects/${projectId}/regions/local/keyrings/${ring.id}/keys`;
        const key = await created('POST', keysPath, { algorithm: 'aes256-gcm96' });
        const keyName = `projects/${projectId}/regions/local/keyrings/${ring.id}/keys/${key.id}`;
        const secret = `${instancePath}/secrets/${enc('prod/db')}`;
        await created('POST', `${instancePath}/secrets`, { path: 'prod/db', value: secretValue });
        await created('PUT', `${secret}/value`, { value: `${secretValue}-2` });
        await created('POST', `${secret}/versions/1/disable`);
        await created('PUT', `${secret}/stages/live`, { version: 2 });
        await created('PATCH', secret, { labels: { team: 'a' } });
        await created('POST', `${secret}/iam-policy:add-binding`, {
          role: 'roles/secretsmanager.viewer',
          member: adminPrincipal,
        });
        await created('POST', `${keysPath}/${key.id}/rotate`);
        await created('POST', `${keysPath}/${key.id}/versions/1/disable`);
        await created('POST', `${keysPath}/${key.id}/disable`);
        await created('POST', `${keysPath}/${key.id}/versions/1/destroy`);
        await created('POST', `${keysPath}/${key.id}/schedule-deletion`, { pendingWindowDays: 7 });
        await created('POST', `${keysPath}/${key.id}/cancel-deletion`);
        // The root policy belongs to no project: in no project's feed.
        await created('POST', '/v2/iam-policy:add-binding', {
          role: 'roles/audit.viewer',
          member: adminPrincipal,
        });
        await created('PUT', instancePath, { name: 'main-renamed' });
        assert.equal((await api(admin, 'DELETE', `${secret}?recoveryWindowDays=7`)).status < 300, true);
        await created('POST', `${secret}/restore`);
        // A background job's change: an expired secret purged by the server.
        await created('POST', `${instancePath}/secrets`, { path: 'temp', ttl: '60s' });
        clock.advance(120_000);
        await node.app.runBackgroundJobs();

        const items = await readAll(admin, from);
        const s = secretName('prod/db');
        const instanceName = instancePath.slice('/v2/'.length);
        const seen = items.map((i) => [i.type, i.resource, i.version, i.stage, i.principal]);
        const byAdmin = (type: string, resource: string, version?: number, stage?: string) => [
          type,
          resource,
          version,
          stage,
          adminPrincipal,
        ];
        assert.deepEqual(seen, [
          byAdmin('key.created', keyName, 1),
          byAdmin('secret.created', s, 1),
          byAdmin('version.added', s, 2),
          byAdmin('version.disabled', s, 1),
          byAdmin('stage.moved', s, 2, 'live'),
          byAdmin('secret.updated', s),
          byAdmin('iam.policy_changed', s),
          byAdmin('key.rotated', keyName, 2),
          byAdmin('key_version.disabled', keyName, 1),
          byAdmin('key.disabled', keyName),
          byAdmin('key_version.destroyed', keyName, 1),
          byAdmin('key.deletion_scheduled', keyName),
          byAdmin('key.deletion_canceled', keyName),
          byAdmin('instance.updated', instanceName),
          byAdmin('secret.deleted', s),
          byAdmin('secret.restored', s),
          byAdmin('secret.created', secretName('temp')),
          ['secret.expired', secretName('temp'), undefined, undefined, 'service:secretsmanager'],
        ]);
        const cursors = items.map((i) => BigInt(i.cursor));
        for (let i = 1; i < cursors.length; i++) assert.ok(cursors[i]! > cursors[i - 1]!, 'cursors increase');
        assert.ok(!JSON.stringify(items).includes(secretValue), 'no value in the feed');
        assert.ok(items.every((i) => !Number.isNaN(Date.parse(i.time))));
      });

      test('a KMS background job records its change under service:kms', async () => {
        const from = await head();
        const ring = await created('POST', `/v2/projects/${projectId}/regions/local/keyrings`, {
          displayName: 'j',
        });
        const keysPath = `/v2/projects/${projectId}/regions/local/keyrings/${ring.id}/keys`;
        const key = await created('POST', keysPath, { algorithm: 'aes256-gcm96', rotationPeriod: '86400s' });
        clock.advance(86_400_000 + 1000);
        await node.app.runBackgroundJobs();
        const items = await readAll(admin, from);
        assert.deepEqual(
          items.map((i) => [i.type, i.version, i.principal]),
          [
            ['key.created', 1, adminPrincipal],
            ['key.rotated', 2, 'service:kms'],
          ],
        );
        assert.ok(items.every((i) => i.resource.endsWith(`/keys/${key.id}`)));
      });

      test('a service account with accessor on two secrets sees their changes and nothing else', async () => {
        const from = await head();
        const sa = await created('POST', `/v2/projects/${projectId}/service-accounts`, {
          name: `feed-${engine}`,
        });
        const token = (
          (await created(
            'POST',
            `/v2/projects/${projectId}/service-accounts/${enc(sa.email)}/tokens`,
            {},
          )) as unknown as { token: string }
        ).token;
        for (const path of ['app/a', 'app/b', 'app/c'])
          await created('POST', `${instancePath}/secrets`, { path, value: secretValue });
        for (const path of ['app/a', 'app/b'])
          await created('POST', `${instancePath}/secrets/${enc(path)}/iam-policy:add-binding`, {
            role: 'roles/secretsmanager.secretAccessor',
            member: `serviceAccount:${sa.email}`,
          });
        for (const path of ['app/a', 'app/b', 'app/c'])
          await created('PUT', `${instancePath}/secrets/${enc(path)}/value`, { value: secretValue });
        await created('PUT', instancePath, { name: 'main-again' });
        const items = await readAll(token, from);
        const visible = new Set(items.map((i) => i.resource));
        // A page that reaches the end moves to the feed's head: its cursor says nothing about the
        // project's own activity that the caller may not see.
        const lastPage = await api(token, 'GET', `${feedPath()}?after=${items.at(-1)!.cursor}`);
        assert.deepEqual(lastPage.body.items, []);
        assert.equal(lastPage.body.nextCursor, await head());
        assert.deepEqual([...visible].sort(), [secretName('app/a'), secretName('app/b')]);
        assert.deepEqual(
          items.filter((i) => i.resource === secretName('app/a')).map((i) => i.type),
          ['secret.created', 'iam.policy_changed', 'version.added'],
        );
        // The admin sees the rest: the third secret and the instance.
        const all = new Set((await readAll(admin, from)).map((i) => i.resource));
        assert.ok(all.has(secretName('app/c')) && all.has(instancePath.slice('/v2/'.length)));
        // The resource filter matches at name boundaries.
        const filtered = await api(
          admin,
          'GET',
          `${feedPath()}?after=${from}&resource=${enc(secretName('app/a'))}`,
        );
        assert.ok(filtered.body.items.length > 0);
        assert.ok(filtered.body.items.every((i: Item) => i.resource === secretName('app/a')));
      });

      test('no token is 401, a bad cursor is 400, and a page is audited once as changes.read', async () => {
        assert.equal((await api(undefined, 'GET', feedPath())).status, 401);
        assert.equal((await openSse(`${node.url}${feedPath()}:stream`, {})).status, 401);
        const bad = await api(admin, 'GET', `${feedPath()}?after=abc`);
        assert.equal(bad.status, 400);
        assert.equal(bad.body.error.code, 'invalid_argument');
        const res = await api(admin, 'GET', feedPath(), undefined);
        assert.equal(res.status, 200);
        const requestId = res.headers.get('x-request-id');
        const events = await api(
          admin,
          'GET',
          `/v2/projects/${projectId}/audit-events?requestId=${requestId}`,
        );
        assert.deepEqual(
          events.body.items.map((e: { action: string }) => e.action),
          ['changes.read'],
        );
      });

      test('the stream delivers new changes, heartbeats, resumes with Last-Event-ID, and ends when the token is revoked', async () => {
        const auth = { authorization: `Bearer ${admin}` };
        const stream = await openSse(`${node.url}${feedPath()}:stream?after=latest`, auth);
        assert.equal(stream.status, 200);
        assert.equal(stream.headers.get('cache-control'), 'no-store');
        await created('POST', `${instancePath}/secrets`, { path: 'streamed/1' });
        await created('POST', `${instancePath}/secrets`, { path: 'streamed/2' });
        let first;
        do first = await stream.next();
        while (first && first.event !== 'change');
        assert.ok(first);
        const item = JSON.parse(first.data!) as Item;
        assert.equal(first.id, item.cursor);
        assert.equal(item.resource, secretName('streamed/1'));
        let sawHeartbeat = false;
        for (let i = 0; i < 10 && !sawHeartbeat; i++)
          sawHeartbeat = (await stream.next())!.comments.includes('heartbeat');
        assert.ok(sawHeartbeat, 'a heartbeat comment');
        stream.close();
        const resumed = await openSse(`${node.url}${feedPath()}:stream`, {
          ...auth,
          'last-event-id': first.id!,
        });
        let next;
        do next = await resumed.next();
        while (next && next.event !== 'change');
        assert.equal((JSON.parse(next!.data!) as Item).resource, secretName('streamed/2'));
        resumed.close();

        const sa = await created('POST', `/v2/projects/${projectId}/service-accounts`, {
          name: `gone-${engine}`,
        });
        const base = `/v2/projects/${projectId}/service-accounts/${enc(sa.email)}`;
        const token = ((await created('POST', `${base}/tokens`, {})) as unknown as { token: string }).token;
        const revoked = await openSse(`${node.url}${feedPath()}:stream?after=latest`, {
          authorization: `Bearer ${token}`,
        });
        assert.equal(revoked.status, 200);
        await created('POST', `${base}/disable`);
        let last;
        for (;;) {
          const event = await revoked.next();
          if (event === undefined) break;
          last = event;
        }
        assert.equal(last?.event, 'error');
        assert.equal(JSON.parse(last!.data!).error.code, 'unauthenticated');
      });

      test('a cursor older than the retention answers 410 gone with the oldest cursor, for pages and streams', async () => {
        clock.advance(3 * 86_400_000);
        await created('POST', `${instancePath}/secrets`, { path: 'after-prune' });
        await node.app.syncChanges();
        await node.app.runBackgroundJobs();
        const gone = await api(admin, 'GET', `${feedPath()}?after=1`);
        assert.equal(gone.status, 410);
        assert.equal(gone.body.error.code, 'gone');
        const oldest = gone.body.error.oldestCursor as string;
        assert.match(oldest, /^\d+$/);
        const stream = await openSse(`${node.url}${feedPath()}:stream?after=1`, {
          authorization: `Bearer ${admin}`,
        });
        assert.equal(stream.status, 410);
        assert.equal((stream.errorBody as { error: { oldestCursor: string } }).error.oldestCursor, oldest);
        const fromOldest = await readAll(admin, oldest);
        // What is left is the changes made after the clock moved (the secret, the key's due rotation).
        assert.equal(fromOldest[0]?.resource, secretName('after-prune'));
        const cutoff = clock.nowMs() - 2 * 86_400_000;
        assert.ok(fromOldest.every((i) => Date.parse(i.time) >= cutoff));
        assert.equal(
          (await api(admin, 'GET', feedPath())).status,
          200,
          'no cursor: from the oldest retained',
        );
      });
    },
  );
}
