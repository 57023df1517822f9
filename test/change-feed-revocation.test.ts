import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { openSse } from './support/sse-client.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const enc = encodeURIComponent;

interface Item {
  cursor: string;
  type: string;
  resource: string;
}

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `change feed: a caller is told of the change that removed its access (${engine})`,
    { skip: engine === 'postgres' ? (postgresSkip ?? false) : false },
    () => {
      let node: TestNode;
      let database: TestDatabase | undefined;
      let admin: string;
      let projectId: string;
      let inst: string;
      let reader: string;
      let readerToken: string;
      let stranger: string;
      const clock = new ManualClock(Date.now());
      const api = (token: string, method: string, path: string, body?: unknown) =>
        call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
      const feed = () => `/v2/projects/${projectId}/changes`;
      const head = async (): Promise<string> => {
        await node.app.syncChanges();
        return (await api(admin, 'GET', `${feed()}?after=latest`)).body.nextCursor;
      };
      /** Every item after `from` the token may see, as raw JSON objects. */
      async function readAll(token: string, from: string): Promise<Record<string, unknown>[]> {
        await node.app.syncChanges();
        const items: Record<string, unknown>[] = [];
        for (let cursor = from; ;) {
          const page = await api(token, 'GET', `${feed()}?after=${cursor}&pageSize=50`);
          assert.equal(page.status, 200, JSON.stringify(page.body));
          items.push(...page.body.items);
          if (page.body.nextCursor === cursor) return items;
          cursor = page.body.nextCursor;
        }
      }
      const types = (items: Record<string, unknown>[]) => items.map((i) => (i as unknown as Item).type);
      async function account(name: string): Promise<{ email: string; token: string }> {
        const email = (await api(admin, 'POST', `/v2/projects/${projectId}/service-accounts`, { name })).body
          .email;
        const path = `/v2/projects/${projectId}/service-accounts/${enc(email)}/tokens`;
        return { email, token: (await api(admin, 'POST', path, {})).body.token };
      }
      /** A secret at `path` whose value `reader` may read through a binding on the secret itself. */
      async function readable(path: string, extra: Record<string, unknown> = {}): Promise<void> {
        const made = await api(admin, 'POST', `${inst}/secrets`, { path, value: 'v1', ...extra });
        assert.ok(made.status < 300, JSON.stringify(made.body));
        const bound = await api(admin, 'POST', `${inst}/secrets/${enc(path)}/iam-policy:add-binding`, {
          role: 'roles/secretsmanager.secretAccessor',
          member: `serviceAccount:${reader}`,
        });
        assert.ok(bound.status < 300, JSON.stringify(bound.body));
      }

      before(async () => {
        const env: Record<string, string> = {};
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        node = await startTestNode({ env, clock });
        admin = node.adminToken!;
        projectId = (await api(admin, 'POST', '/v2/projects', { displayName: 'revocation' })).body.id;
        const instance = (
          await api(admin, 'POST', `/v2/projects/${projectId}/regions/local/instances`, { name: 'main' })
        ).body;
        inst = `/v2/projects/${projectId}/regions/local/instances/${instance.id}`;
        const r = await account('reader');
        reader = r.email;
        readerToken = r.token;
        stranger = (await account('stranger')).token;
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('a removed binding: the removed member sees that iam.policy_changed, not what follows', async () => {
        await readable('rev/a');
        const from = await head();
        const removed = await api(
          admin,
          'POST',
          `${inst}/secrets/${enc('rev/a')}/iam-policy:remove-binding`,
          {
            role: 'roles/secretsmanager.secretAccessor',
            member: `serviceAccount:${reader}`,
          },
        );
        assert.ok(removed.status < 300, JSON.stringify(removed.body));
        await api(admin, 'PUT', `${inst}/secrets/${enc('rev/a')}/value`, { value: 'rotated' });
        const items = await readAll(readerToken, from);
        assert.deepEqual(types(items), ['iam.policy_changed']);
        // The snapshot is never part of an item; a caller who never had access sees nothing.
        assert.deepEqual(Object.keys(items[0]!).sort(), ['cursor', 'principal', 'resource', 'time', 'type']);
        assert.deepEqual(await readAll(stranger, from), []);
        // A stream shows it too.
        const sse = await openSse(`${node.url}${feed()}:stream?after=${from}`, {
          authorization: `Bearer ${readerToken}`,
        });
        try {
          let event = await sse.next();
          while (event && event.event !== 'change') event = await sse.next();
          assert.equal(JSON.parse(event!.data!).type, 'iam.policy_changed');
          assert.equal(event!.id, items[0]!.cursor);
        } finally {
          sse.close();
        }
      });

      test('a secret purged at once (0-day window): its policy’s members see secret.purged', async () => {
        await readable('rev/b');
        const from = await head();
        const deleted = await api(admin, 'DELETE', `${inst}/secrets/${enc('rev/b')}?recoveryWindowDays=0`);
        assert.ok(deleted.status < 300, JSON.stringify(deleted.body));
        assert.deepEqual(types(await readAll(readerToken, from)), ['secret.purged']);
        assert.deepEqual(await readAll(stranger, from), []);
      });

      test('a secret expired: its policy’s members see secret.expired', async () => {
        await readable('rev/c', { ttl: '60s' });
        const from = await head();
        clock.advance(120_000);
        await node.app.runBackgroundJobs();
        assert.deepEqual(types(await readAll(readerToken, from)), ['secret.expired']);
        assert.deepEqual(await readAll(stranger, from), []);
      });

      test('an instance deleted: its policy’s members see instance.deleted', async () => {
        const other = (
          await api(admin, 'POST', `/v2/projects/${projectId}/regions/local/instances`, { name: 'gone' })
        ).body;
        const path = `/v2/projects/${projectId}/regions/local/instances/${other.id}`;
        const bound = await api(admin, 'POST', `${path}/iam-policy:add-binding`, {
          role: 'roles/secretsmanager.viewer',
          member: `serviceAccount:${reader}`,
        });
        assert.ok(bound.status < 300, JSON.stringify(bound.body));
        const from = await head();
        assert.ok((await api(admin, 'DELETE', path)).status < 300);
        assert.deepEqual(types(await readAll(readerToken, from)), ['instance.deleted']);
        assert.deepEqual(await readAll(stranger, from), []);
      });
    },
  );
}
