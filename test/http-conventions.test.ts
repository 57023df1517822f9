import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `HTTP conventions through a listening server (${engine})`,
    {
      skip: engine === 'postgres' ? (postgresSkip ?? false) : false,
    },
    () => {
      let node: TestNode;
      let token: string;
      let database: TestDatabase | undefined;
      before(async () => {
        const env: Record<string, string> = { COFFER_REGIONS: 'eu01,us01', COFFER_KMS_REGIONS: 'eu01' };
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        node = await startTestNode({ env });
        token = node.adminToken!;
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('every answer carries an X-Request-Id, and a caller’s own id is kept', async () => {
        const generated = await call(node.url, 'GET', '/v2/health');
        assert.match(generated.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
        const kept = await call(node.url, 'GET', '/v2/projects', {
          token,
          headers: { 'x-request-id': 'trace-42' },
        });
        assert.equal(kept.headers.get('x-request-id'), 'trace-42');
        const refused = await call(node.url, 'GET', '/v2/health', {
          headers: { 'x-request-id': 'bad id\twith tabs' },
        });
        assert.notEqual(refused.headers.get('x-request-id'), 'bad id\twith tabs');
      });

      test('errors answer {error: {code, message, requestId}} with the request id of the header', async () => {
        const res = await call(node.url, 'GET', '/v2/projects', { headers: { 'x-request-id': 'req-401' } });
        assert.equal(res.status, 401);
        assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'message', 'requestId']);
        assert.equal(res.body.error.code, 'unauthenticated');
        assert.equal(res.body.error.requestId, 'req-401');
      });

      test('health answers ok with the version and the storage engine, without a token', async () => {
        const res = await call(node.url, 'GET', '/v2/health');
        assert.equal(res.status, 200);
        assert.equal(res.body.status, 'ok');
        assert.equal(res.body.storage.engine, engine);
        assert.match(res.body.version, /^\d+\.\d+\.\d+/);
      });

      test('a missing, malformed or unknown token is 401; a token of the wrong scheme too', async () => {
        for (const authorization of [
          undefined,
          'Bearer nonsense',
          'Basic abc',
          `Bearer cfr_${'A'.repeat(46)}`,
        ]) {
          const res = await call(node.url, 'GET', '/v2/projects', {
            headers: authorization ? { authorization } : {},
          });
          assert.equal(res.status, 401, String(authorization));
          assert.equal(res.body.error.code, 'unauthenticated');
        }
      });

      test('unknown routes answer a JSON 404', async () => {
        const res = await call(node.url, 'GET', '/v2/nothing-here', { token });
        assert.equal(res.status, 404);
        assert.equal(res.body.error.code, 'not_found');
      });

      test('malformed JSON, a wrong content type and unknown fields are 400 invalid_argument', async () => {
        const malformed = await call(node.url, 'POST', '/v2/projects', {
          token,
          rawBody: '{"displayName": ',
          headers: { 'content-type': 'application/json' },
        });
        assert.equal(malformed.status, 400);
        assert.equal(malformed.body.error.code, 'invalid_argument');
        const wrongType = await call(node.url, 'POST', '/v2/projects', {
          token,
          rawBody: 'displayName=x',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        assert.equal(wrongType.status, 400);
        assert.equal(wrongType.body.error.code, 'invalid_argument');
        const unknown = await call(node.url, 'POST', '/v2/projects', {
          token,
          body: { displayName: 'x', colour: 'red' },
        });
        assert.equal(unknown.status, 400);
        assert.match(unknown.body.error.message, /colour/);
        const wrongKind = await call(node.url, 'POST', '/v2/projects', { token, body: { displayName: 42 } });
        assert.equal(wrongKind.status, 400);
      });

      test('an oversize body is 413 payload_too_large', async () => {
        const res = await call(node.url, 'POST', '/v2/projects', {
          token,
          body: { displayName: 'x'.repeat(2 * 1024 * 1024) },
        });
        assert.equal(res.status, 413);
        assert.equal(res.body.error.code, 'payload_too_large');
      });

      test('projects: create with a chosen id, get, duplicate is 409, bad id is 400, missing is 404', async () => {
        const id = '00000000-0000-0000-0000-000000000000';
        const created = await call(node.url, 'POST', '/v2/projects', {
          token,
          body: { id, displayName: 'Zero' },
        });
        assert.equal(created.status, 201);
        assert.deepEqual(created.body.features, { secrets: true, kms: true });
        assert.equal(created.body.id, id);
        assert.match(created.body.createTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        const got = await call(node.url, 'GET', `/v2/projects/${id}`, { token });
        assert.equal(got.status, 200);
        assert.equal(got.body.displayName, 'Zero');
        const duplicate = await call(node.url, 'POST', '/v2/projects', { token, body: { id } });
        assert.equal(duplicate.status, 409);
        assert.equal(duplicate.body.error.code, 'already_exists');
        const badId = await call(node.url, 'POST', '/v2/projects', { token, body: { id: 'not-a-uuid' } });
        assert.equal(badId.status, 400);
        const missing = await call(node.url, 'GET', '/v2/projects/11111111-1111-1111-1111-111111111111', {
          token,
        });
        assert.equal(missing.status, 404);
      });

      test('PATCH takes If-Match or an etag field; a stale etag is 409 and changes nothing', async () => {
        const created = await call(node.url, 'POST', '/v2/projects', {
          token,
          body: { displayName: 'gated' },
        });
        const id = created.body.id;
        const patched = await call(node.url, 'PATCH', `/v2/projects/${id}`, {
          token,
          body: { features: { kms: false } },
          headers: { 'if-match': `"${created.body.etag}"` },
        });
        assert.equal(patched.status, 200);
        assert.deepEqual(patched.body.features, { secrets: true, kms: false });
        assert.notEqual(patched.body.etag, created.body.etag);
        const stale = await call(node.url, 'PATCH', `/v2/projects/${id}`, {
          token,
          body: { displayName: 'lost', etag: created.body.etag },
        });
        assert.equal(stale.status, 409);
        assert.equal(stale.body.error.code, 'conflict');
        const after = await call(node.url, 'GET', `/v2/projects/${id}`, { token });
        assert.equal(after.body.displayName, 'gated');
      });

      test('lists page with pageSize and pageToken, and clamp pageSize above 1000', async () => {
        for (let i = 0; i < 5; i++)
          await call(node.url, 'POST', '/v2/projects', { token, body: { displayName: `p${i}` } });
        const all = await call(node.url, 'GET', '/v2/projects?pageSize=5000', { token });
        assert.equal(all.status, 200);
        const total = all.body.items.length;
        assert.ok(total >= 5);
        assert.equal(all.body.nextPageToken, undefined);
        const seen: string[] = [];
        let pageToken: string | undefined;
        do {
          const page = await call(
            node.url,
            'GET',
            `/v2/projects?pageSize=2${pageToken ? `&pageToken=${pageToken}` : ''}`,
            { token },
          );
          assert.ok(page.body.items.length <= 2);
          seen.push(...page.body.items.map((p: { id: string }) => p.id));
          pageToken = page.body.nextPageToken;
        } while (pageToken);
        assert.deepEqual(
          seen,
          all.body.items.map((p: { id: string }) => p.id),
        );
        const bad = await call(node.url, 'GET', '/v2/projects?pageToken=%%%', { token });
        assert.equal(bad.status, 400);
        const zero = await call(node.url, 'GET', '/v2/projects?pageSize=0', { token });
        assert.equal(zero.status, 400);
      });

      test('regions come from configuration, as a list with items', async () => {
        const res = await call(node.url, 'GET', '/v2/regions', { token });
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, {
          items: [
            { id: 'eu01', kms: true },
            { id: 'us01', kms: false },
          ],
        });
      });

      test('the OpenAPI description is generated from the route schemas', async () => {
        const res = await call(node.url, 'GET', '/v2/openapi.json', { token });
        assert.equal(res.status, 200);
        assert.match(res.body.openapi, /^3\./);
        assert.ok(res.body.paths['/v2/projects']);
        assert.ok(res.body.paths['/v2/projects/{projectId}'].patch);
        const unauthenticated = await call(node.url, 'GET', '/v2/openapi.json');
        assert.equal(unauthenticated.status, 401);
      });

      test('log lines never carry the admin token', async () => {
        await call(node.url, 'GET', '/v2/projects', { token });
        assert.ok(node.logLines.length > 0);
        for (const line of node.logLines) assert.ok(!line.includes(token), line);
      });
    },
  );
}
