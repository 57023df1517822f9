import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

// The native secrets listing's filters the web console pages with (issue #17): `prefix`, `label`
// (`key=value` or `key` alone, repeated terms all hold), server-side paging across both, on SQLite
// and PostgreSQL. Label matching is exact: case, quotes, `=` and commas inside values, keys that
// are prefixes of other keys, and values that look like other entries' JSON never match wrongly.

const postgresSkip = await postgresSkipReason();

const secrets: Record<string, Record<string, string>> = {
  'app/db/password': { env: 'prod', team: 'payments' },
  'app/db/user': { env: 'prod' },
  'app/api/key': { env: 'Prod', team: 'payments' },
  'app/cache/url': { env: 'staging' },
  'apps/other': { env: 'prod', environment: 'x' },
  'odd/quotes': { note: 'x","env":"prod', tricky: 'a=b,c' },
  'odd/empty': { env: '' },
  'zeta/last': {},
};

function scenario(engine: 'sqlite' | 'postgres', skip: string | false) {
  describe(`secrets listing filters (${engine})`, { skip }, () => {
    let node: TestNode;
    let database: TestDatabase | undefined;
    let base: string;
    const api = (method: string, path: string, body?: unknown) =>
      call(node.url, method, path, { token: node.adminToken!, ...(body !== undefined ? { body } : {}) });
    const paths = async (query: string, pageSize = 1000): Promise<string[]> => {
      const found: string[] = [];
      let token: string | undefined;
      do {
        const qs = `${query}&pageSize=${pageSize}${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`;
        const res = await api('GET', `${base}/secrets?${qs}`);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.ok(res.body.items.length <= pageSize);
        found.push(...res.body.items.map((s: { path: string }) => s.path));
        token = res.body.nextPageToken;
      } while (token);
      return found;
    };

    before(async () => {
      database = engine === 'postgres' ? await createTestDatabase() : undefined;
      node = await startTestNode({
        env: {
          COFFER_BACKGROUND_INTERVAL_MS: '3600000',
          ...(database ? { COFFER_DATABASE_URL: database.url } : {}),
        },
      });
      const projectId = (await api('POST', '/v2/projects', {})).body.id;
      const instance = await api('POST', `/v2/projects/${projectId}/regions/local/instances`, {
        name: 'main',
      });
      assert.equal(instance.status, 201, JSON.stringify(instance.body));
      base = `/v2/projects/${projectId}/regions/local/instances/${instance.body.id}`;
      for (const [path, labels] of Object.entries(secrets)) {
        const res = await api('POST', `${base}/secrets`, { path, labels });
        assert.equal(res.status, 201, JSON.stringify(res.body));
      }
    });
    after(async () => {
      await node?.destroy();
      await database?.drop();
    });

    test('label=key=value matches that exact value only (case-sensitive, not a longer key)', async () => {
      assert.deepEqual(await paths('label=env%3Dprod'), ['app/db/password', 'app/db/user', 'apps/other']);
      assert.deepEqual(await paths('label=env%3DProd'), ['app/api/key']);
      assert.deepEqual(await paths('label=env%3D'), ['odd/empty']);
      assert.deepEqual(await paths('label=team%3Dpay'), []);
    });

    test('label=key matches any value of that key; repeated terms must all hold', async () => {
      assert.deepEqual(await paths('label=team'), ['app/api/key', 'app/db/password']);
      assert.deepEqual(await paths('label=environment'), ['apps/other']);
      assert.deepEqual(await paths('label=env%3Dprod&label=team%3Dpayments'), ['app/db/password']);
      assert.deepEqual(await paths('label=env&label=team&label=environment'), []);
    });

    test('values with quotes, = and commas match exactly and never impersonate another entry', async () => {
      assert.deepEqual(await paths(`label=${encodeURIComponent('note=x","env":"prod')}`), ['odd/quotes']);
      assert.deepEqual(await paths(`label=${encodeURIComponent('tricky=a=b,c')}`), ['odd/quotes']);
      assert.ok(!(await paths('label=env%3Dprod')).includes('odd/quotes'));
    });

    test('prefix and labels together, paged one by one', async () => {
      assert.deepEqual(await paths('prefix=app%2F&label=env%3Dprod', 1), ['app/db/password', 'app/db/user']);
      assert.deepEqual(await paths('prefix=app', 2), [
        'app/api/key',
        'app/cache/url',
        'app/db/password',
        'app/db/user',
        'apps/other',
      ]);
      assert.deepEqual(await paths('prefix=nothing&label=env'), []);
    });

    test('a malformed label term is invalid_argument, never a 500', async () => {
      for (const term of ['Env%3Dprod', '%3Dprod', 'env%20x', 'a'.repeat(70), `env%3D${'v'.repeat(300)}`]) {
        const res = await api('GET', `${base}/secrets?label=${term}`);
        assert.equal(res.status, 400, term);
        assert.equal(res.body.error.code, 'invalid_argument', term);
      }
      const many = Array.from({ length: 11 }, (_, i) => `label=k${i}`).join('&');
      assert.equal((await api('GET', `${base}/secrets?${many}`)).status, 400);
    });

    test('NUL and unpaired surrogates: an empty page or invalid_argument, never a 500 (PostgreSQL)', async () => {
      for (const prefix of ['%00', 'app%00', 'app%2F%E2%82%AC']) {
        const res = await api('GET', `${base}/secrets?prefix=${prefix}`);
        assert.equal(res.status, 200, prefix);
        assert.deepEqual(res.body.items, [], prefix);
      }
      const token = Buffer.from(JSON.stringify({ a: 'app\0' })).toString('base64url');
      for (const query of ['label=env%3D%00', `pageToken=${token}`, `label=env&pageToken=${token}`]) {
        const res = await api('GET', `${base}/secrets?${query}`);
        assert.equal(res.status, 400, query);
        assert.equal(res.body.error.code, 'invalid_argument', query);
      }
      for (const value of ['a\0b', '\ud800']) {
        const created = await api('POST', `${base}/secrets`, { path: 'odd/nul', labels: { env: value } });
        assert.equal(created.status, 400, JSON.stringify(created.body));
        assert.equal(created.body.error.code, 'invalid_argument');
        const patched = await api('PATCH', `${base}/secrets/zeta%2Flast`, { labels: { env: value } });
        assert.equal(patched.status, 400, JSON.stringify(patched.body));
      }
    });
  });
}

scenario('sqlite', false);
scenario('postgres', postgresSkip ?? false);
