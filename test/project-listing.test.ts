import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `project listing for a caller who sees some projects (${engine})`,
    {
      skip: engine === 'postgres' ? (postgresSkip ?? false) : false,
    },
    () => {
      let node: TestNode;
      let database: TestDatabase | undefined;
      let viewer: string;
      let visible: string[];

      before(async () => {
        const env: Record<string, string> = {};
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        node = await startTestNode({ env });
        const admin = node.adminToken!;
        const post = async (path: string, body: unknown) => {
          const res = await call(node.url, 'POST', path, { token: admin, body });
          assert.ok(res.status === 200 || res.status === 201, `${path}: ${JSON.stringify(res.body)}`);
          return res.body;
        };
        const home = (await post('/v2/projects', { displayName: 'home' })).id as string;
        const ids: string[] = [];
        for (let i = 0; i < 10; i++) ids.push((await post('/v2/projects', { displayName: `p${i}` })).id);
        ids.sort();
        const account = await post(`/v2/projects/${home}/service-accounts`, { name: 'lister' });
        viewer = (
          await post(`/v2/projects/${home}/service-accounts/${encodeURIComponent(account.email)}/tokens`, {})
        ).token;
        // Three projects far apart in id order: a page of the first ids holds at most one of them.
        visible = [ids[1]!, ids[5]!, ids[9]!];
        for (const id of visible) {
          await post(`/v2/projects/${id}/iam-policy:add-binding`, {
            role: 'roles/audit.viewer',
            member: `serviceAccount:${account.email}`,
          });
        }
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('pages are filled to pageSize with projects the caller may read, and the token continues after them', async () => {
        const pages: string[][] = [];
        let token: string | undefined;
        do {
          const query = `?pageSize=2${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`;
          const res = await call(node.url, 'GET', `/v2/projects${query}`, { token: viewer });
          assert.equal(res.status, 200, JSON.stringify(res.body));
          pages.push(res.body.items.map((p: { id: string }) => p.id));
          token = res.body.nextPageToken;
          assert.ok(pages.length <= 5, 'too many pages');
        } while (token);
        assert.deepEqual(pages[0], visible.slice(0, 2));
        assert.deepEqual(pages.flat(), visible);
        assert.equal(pages.filter((page) => page.length === 0).length, 0, 'an empty page was returned');
      });
    },
  );
}
