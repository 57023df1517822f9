import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CreateKeyCommand, KMSClient, TagResourceCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

// A NUL character or an unpaired surrogate in a text field PostgreSQL stores (text refuses NUL,
// jsonb refuses \u0000 and lone surrogates) is the client's bad input: 400 invalid_argument on both
// engines, never a 500, and the answer does not echo the value.

const postgresSkip = await postgresSkipReason();

function scenario(engine: 'sqlite' | 'postgres', skip: string | false) {
  describe(`NUL and unpaired surrogates in text fields (${engine})`, { skip }, () => {
    let node: TestNode;
    let database: TestDatabase | undefined;
    let projectId: string;
    let base: string;
    let ring: string;
    const inject = async (method: string, url: string, body?: unknown) => {
      const res = await node.server.inject({
        method: method as 'GET',
        url,
        headers: { authorization: `Bearer ${node.adminToken!}` },
        ...(body !== undefined ? { payload: body as object } : {}),
      });
      return { status: res.statusCode, body: res.json(), raw: res.body };
    };
    const ok = async (method: string, url: string, body?: unknown) => {
      const res = await inject(method, url, body);
      assert.ok(res.status < 300, `${method} ${url}: ${res.status} ${res.raw}`);
      return res.body;
    };
    /**
     * Not a 500: stored as given (SQLite; PostgreSQL where the field is kept as escaped JSON text), or
     * refused as invalid_argument. A route's own check may quote the caller's input; the storage
     * refusal (`ownCheck` false) never does.
     */
    const refusedOrKept = async (method: string, url: string, body?: unknown, ownCheck = false) => {
      const res = await inject(method, url, body);
      if (res.status >= 300) {
        assert.equal(res.status, 400, `${method} ${url}: ${res.raw}`);
        assert.equal(res.body.error.code, 'invalid_argument', res.raw);
        if (!ownCheck)
          assert.doesNotMatch(res.raw, /marker|JSON data|parameter \$/, 'the value is not echoed');
      }
      return res;
    };

    before(async () => {
      database = engine === 'postgres' ? await createTestDatabase() : undefined;
      node = await startTestNode({
        env: {
          COFFER_BACKGROUND_INTERVAL_MS: '3600000',
          COFFER_AWS_TEST_MODE: 'true',
          COFFER_AWS_REGIONS: 'auto',
          ...(database ? { COFFER_DATABASE_URL: database.url } : {}),
        },
      });
      projectId = (await ok('POST', '/v2/projects', {})).id;
      const instance = await ok('POST', `/v2/projects/${projectId}/regions/local/instances`, {
        name: 'main',
      });
      base = `/v2/projects/${projectId}/regions/local/instances/${instance.id}`;
      ring = (await ok('POST', `/v2/projects/${projectId}/regions/local/keyrings`, { displayName: 'ring' }))
        .id;
    });
    after(async () => {
      await node?.destroy();
      await database?.drop();
    });

    test('a secret with NUL in a label key, a label key with an unpaired surrogate, or NUL in an annotation', async () => {
      await refusedOrKept(
        'POST',
        `${base}/secrets`,
        { path: 'nul/label-key', labels: { 'k\u0000marker': 'v' } },
        true,
      );
      await refusedOrKept(
        'POST',
        `${base}/secrets`,
        { path: 'nul/label-sur', labels: { 'k\ud800marker': 'v' } },
        true,
      );
      await refusedOrKept('POST', `${base}/secrets`, {
        path: 'nul/note',
        annotations: { note: 'a\u0000marker' },
      });
      await ok('POST', `${base}/secrets`, { path: 'nul/patched' });
      await refusedOrKept('PATCH', `${base}/secrets/nul%2Fpatched`, {
        annotations: { 'n\u0000marker': 'x' },
      });
      // The server still answers normally afterwards.
      assert.equal((await inject('GET', `${base}/secrets?prefix=nul/`)).status, 200);
    });

    test('an IAM binding member with NUL', async () => {
      await refusedOrKept(
        'POST',
        `/v2/projects/${projectId}/iam-policy:add-binding`,
        {
          role: 'roles/secretsmanager.viewer',
          member: 'user:a\u0000marker@example.com',
        },
        true,
      );
    });

    test('a service account display name and a key ring description with NUL; a KMS key display name', async () => {
      await refusedOrKept('POST', `/v2/projects/${projectId}/service-accounts`, {
        name: 'nul-display',
        displayName: 'a\u0000marker',
      });
      await refusedOrKept('POST', `/v2/projects/${projectId}/regions/local/keyrings`, {
        displayName: 'r',
        description: 'a\u0000marker',
      });
      await refusedOrKept('POST', `/v2/projects/${projectId}/regions/local/keyrings/${ring}/keys`, {
        algorithm: 'AES_256_GCM',
        displayName: 'a\u0000marker',
      });
    });

    test('a user email, a login, an instance name and a custom role title with NUL', async () => {
      await refusedOrKept('POST', '/v2/users', {
        email: 'a\u0000marker@example.com',
        password: 'long enough password',
      });
      const login = await node.server.inject({
        method: 'POST',
        url: '/v2/auth/login',
        payload: { email: 'a\u0000marker@example.com', password: 'long enough password' },
      });
      assert.ok([400, 401].includes(login.statusCode), login.body);
      await refusedOrKept('POST', `/v2/projects/${projectId}/regions/local/instances`, {
        name: 'a\u0000marker',
      });
      await refusedOrKept('POST', `/v2/projects/${projectId}/roles`, {
        roleId: 'nulRole',
        title: 'a\u0000marker',
        permissions: ['secrets.secrets.get'],
      });
    });

    test('a NUL in a URL segment or a key reference', async () => {
      for (const url of [
        `/v2/projects/${projectId}/service-accounts/a%00marker@example.com`,
        `/v2/users/a%00marker@example.com/tokens`,
        `/v2/projects/${projectId}/regions/local/keyrings/a%00marker`,
        `${base}/secrets/a%00marker`,
      ]) {
        const res = await inject('GET', url);
        assert.ok([400, 404].includes(res.status), `${url}: ${res.raw}`);
      }
      await refusedOrKept(
        'POST',
        `${base}/secrets`,
        { path: 'nul/key-ref', kmsKeyIdentity: 'a\u0000marker' },
        true,
      );
    });

    test('the AWS faces: NUL in a secret description or tag, a key description or tag is the caller’s error', async () => {
      const options = {
        endpoint: node.url,
        region: 'us-east-1',
        credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
        maxAttempts: 1,
      };
      const sm = new SecretsManagerClient(options);
      const kms = new KMSClient(options);
      /** Stored (SQLite), or refused as the caller's error; never an internal failure. */
      const notInternal = async (promise: Promise<unknown>) => {
        try {
          await promise;
        } catch (err) {
          assert.match(
            (err as Error).name,
            /^(ValidationException|InvalidParameterException|TagException)$/,
            String(err),
          );
          assert.doesNotMatch((err as Error).message, /marker/);
        }
      };
      try {
        await notInternal(
          sm.send(new CreateSecretCommand({ Name: 'nul-desc', Description: 'a\u0000marker' })),
        );
        await notInternal(
          sm.send(new CreateSecretCommand({ Name: 'nul-tag', Tags: [{ Key: 'k', Value: 'a\u0000marker' }] })),
        );
        await notInternal(kms.send(new CreateKeyCommand({ Description: 'a\u0000marker' })));
        const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
        await notInternal(
          kms.send(
            new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'k', TagValue: 'a\u0000marker' }] }),
          ),
        );
      } finally {
        sm.destroy();
        kms.destroy();
      }
    });

    test('a NUL in a URL segment is audited as %00 and fails no other request’s audit (health stays ok)', async () => {
      const secrets = `${base}/secrets`;
      await ok('POST', secrets, { path: 'audited', value: 'v' });
      const sa = (await ok('POST', `/v2/projects/${projectId}/service-accounts`, { name: 'nul-url-sa' }))
        .email;
      const token = (await ok('POST', `/v2/projects/${projectId}/service-accounts/${sa}/tokens`, {})).token;
      // Each refused caller from its own address, so no rate limit takes part; the reveals race them.
      const answers = await Promise.all([
        ...Array.from({ length: 8 }, (_, i) =>
          node.server.inject({
            method: 'GET',
            url: `/v2/projects/${projectId}/regions/local/instances/z%00marker/secrets`,
            headers: { authorization: `Bearer ${token}` },
            remoteAddress: `10.0.1.${i + 1}`,
          }),
        ),
        ...Array.from({ length: 8 }, () =>
          node.server.inject({
            method: 'GET',
            url: `${secrets}/audited/value`,
            headers: { authorization: `Bearer ${node.adminToken!}` },
          }),
        ),
      ]);
      assert.deepEqual(
        answers.slice(8).map((r) => r.statusCode),
        Array(8).fill(200),
        'every reveal made its audit durable',
      );
      const refused = answers[0]!;
      assert.ok([400, 403].includes(refused.statusCode), refused.body);
      const health = await node.server.inject({ method: 'GET', url: '/v2/health' });
      assert.equal(health.json().status, 'ok');
      const events = await node.app.storage.db
        .selectFrom('audit_events')
        .select(['resource'])
        .where('request_id', '=', String(refused.headers['x-request-id']))
        .execute();
      assert.equal(events.length, 1);
      assert.match(events[0]!.resource, /instances\/z%00marker/);
    });

    test('very long URL segments are audited cut short and fail no other request’s audit', async () => {
      await ok('POST', `${base}/secrets`, { path: 'audited-long', value: 'v' });
      const sa = (await ok('POST', `/v2/projects/${projectId}/service-accounts`, { name: 'long-url-sa' }))
        .email;
      const token = (await ok('POST', `/v2/projects/${projectId}/service-accounts/${sa}/tokens`, {})).token;
      const segment = (i: number) => `${i}`.padEnd(2000, 'q');
      const answers = await Promise.all([
        ...Array.from({ length: 4 }, (_, i) =>
          node.server.inject({
            method: 'GET',
            url: `/v2/projects/${segment(i)}/regions/${segment(i)}/instances/${segment(i)}/secrets`,
            headers: { authorization: `Bearer ${token}` },
            remoteAddress: `10.0.2.${i + 1}`,
          }),
        ),
        ...Array.from({ length: 8 }, () =>
          node.server.inject({
            method: 'GET',
            url: `${base}/secrets/audited-long/value`,
            headers: { authorization: `Bearer ${node.adminToken!}` },
          }),
        ),
      ]);
      assert.deepEqual(
        answers.map((r) => r.statusCode),
        [...Array(4).fill(403), ...Array(8).fill(200)],
      );
      const health = await node.server.inject({ method: 'GET', url: '/v2/health' });
      assert.equal(health.json().status, 'ok');
      const events = await node.app.storage.db
        .selectFrom('audit_events')
        .select(['resource'])
        .where('request_id', '=', String(answers[0]!.headers['x-request-id']))
        .execute();
      assert.equal(events.length, 1);
      assert.ok(events[0]!.resource.endsWith('…') && events[0]!.resource.length <= 2000);
    });

    test('a caller without rights is refused 403 for a URL with NUL in a segment, as for any other', async () => {
      const sa = (await ok('POST', `/v2/projects/${projectId}/service-accounts`, { name: 'nul-denied-sa' }))
        .email;
      const token = (await ok('POST', `/v2/projects/${projectId}/service-accounts/${sa}/tokens`, {})).token;
      for (const url of [
        '/v2/projects/%00x/regions/local/instances',
        `/v2/projects/${projectId}/regions/%00/keyrings`,
        `/v2/projects/${projectId}/regions/local/instances/y%00marker/secrets`,
      ]) {
        const res = await node.server.inject({
          method: 'GET',
          url,
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(res.statusCode, 403, `${url}: ${res.body}`);
      }
    });

    test('an audit query filter with NUL', async () => {
      for (const field of ['principal', 'action', 'resource', 'requestId']) {
        await refusedOrKept('GET', `/v2/projects/${projectId}/audit-events?${field}=a%00marker`);
      }
    });
  });
}

scenario('sqlite', false);
scenario('postgres', postgresSkip ?? false);
