import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { changeStatement } from '../src/storage/change-log.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `change feed pages read a window of the global feed (${engine})`,
    { skip: engine === 'postgres' ? (postgresSkip ?? false) : false },
    () => {
      let node: TestNode;
      let database: TestDatabase | undefined;
      let admin: string;
      const api = (token: string, method: string, path: string, body?: unknown) =>
        call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
      /** Records `count` changes of `projectId`, as writes would. */
      async function record(projectId: string, count: number): Promise<void> {
        const db = node.app.storage.db;
        for (let done = 0; done < count; done += 500)
          await node.app.storage.write(
            Array.from({ length: Math.min(500, count - done) }, (_, j) =>
              changeStatement(db, {
                type: 'version.added',
                resource: `projects/${projectId}/regions/local/instances/x/secrets/s${done + j}`,
                projectId,
                principal: 'user:admin@coffer.internal',
                timeMs: Date.now(),
                version: 2,
              }),
            ),
          );
      }

      before(async () => {
        const env: Record<string, string> = {};
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        node = await startTestNode({ env });
        admin = node.adminToken!;
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('a stranger’s nextCursor is the same for a busy project and a missing one, never past the head', async () => {
        const victim = (await api(admin, 'POST', '/v2/projects', { displayName: 'victim' })).body.id;
        const mine = (await api(admin, 'POST', '/v2/projects', { displayName: 'mine' })).body.id;
        const sa = (await api(admin, 'POST', `/v2/projects/${mine}/service-accounts`, { name: 'stranger' }))
          .body;
        const path = `/v2/projects/${mine}/service-accounts/${encodeURIComponent(sa.email)}/tokens`;
        const stranger = (await api(admin, 'POST', path, {})).body.token;
        await node.app.syncChanges();
        const from = Number(
          (await api(stranger, 'GET', `/v2/projects/${mine}/changes?after=latest`)).body.nextCursor,
        );
        // Another project's changes first, so the victim's 5,000th change is not at from + 5,000.
        await record(mine, 50);
        await record(victim, 5100);
        for (let k = 0; k < 10; k++) await node.app.syncChanges();
        const head = Number(
          (await api(stranger, 'GET', `/v2/projects/${mine}/changes?after=latest`)).body.nextCursor,
        );
        assert.equal(head, from + 5150);
        const page = (project: string, after: number) =>
          api(stranger, 'GET', `/v2/projects/${project}/changes?after=${after}&pageSize=1`);
        const busy = await page(victim, from);
        const none = await page('no-such-project', from);
        assert.deepEqual(busy.body.items, []);
        assert.equal(busy.body.nextCursor, String(from + 5000));
        assert.equal(none.body.nextCursor, busy.body.nextCursor);
        // The next window reaches the head, for both.
        assert.equal((await page(victim, from + 5000)).body.nextCursor, String(head));
        assert.equal((await page('no-such-project', from + 5000)).body.nextCursor, String(head));
        // A caller that sees the changes gets full pages ending at its last item.
        const seen = await api(admin, 'GET', `/v2/projects/${victim}/changes?after=${from}&pageSize=3`);
        assert.equal(seen.body.items.length, 3);
        assert.equal(seen.body.nextCursor, seen.body.items[2].cursor);
      });
    },
  );
}
