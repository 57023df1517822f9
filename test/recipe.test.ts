import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const enc = encodeURIComponent;
const b64 = (text: string) => Buffer.from(text).toString('base64');

// The recipe (secure-api-configuration-recipe.md): three secrets an API service reads at runtime,
// with the values of its step 1, and a service account that may read exactly those three.
const region = 'us-central1';
const granted = {
  'db-password':
    '{"host":"db.example.com","port":5432,"username":"api_user","password":"secure_db_password_123"}',
  'api-keys/stripe':
    '{"external_api_key":"sk-1234567890abcdef","jwt_secret":"jwt_signing_key_xyz789","encryption_key":"aes256_encryption_key_abc123"}',
  'config/app': '{"debug_mode":false,"rate_limit":1000,"cache_ttl":3600,"log_level":"INFO"}',
} as const;
const grantedPaths = Object.keys(granted) as Array<keyof typeof granted>;
// A secret in the same instance, next to one of the granted ones, that the service account may not read.
const otherPath = 'api-keys/internal';

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `The recipe as a test: per-secret accessor bindings for a service account (${engine})`,
    { skip: engine === 'postgres' ? (postgresSkip ?? false) : false },
    () => {
      let node: TestNode;
      let admin: string;
      let database: TestDatabase | undefined;
      let projectId: string;
      let instancePath: string;
      let keyPath: string;
      let app: { email: string; member: string; token: string };

      const as = (token: string) => ({
        get: (path: string) => call(node.url, 'GET', path, { token }),
        post: (path: string, body: unknown = {}) => call(node.url, 'POST', path, { token, body }),
        put: (path: string, body: unknown) => call(node.url, 'PUT', path, { token, body }),
      });
      const secretUrl = (path: string) => `${instancePath}/secrets/${enc(path)}`;
      const secretName = (path: string) => `${instancePath.slice('/v2/'.length)}/secrets/${enc(path)}`;
      const latest = (token: string, path: string) =>
        as(token).get(`${secretUrl(path)}/value?version=latest`);
      const assertDenied = (res: { status: number; body: { error?: { code?: string } } }, what: string) => {
        assert.equal(res.status, 403, `${what}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error?.code, 'permission_denied', what);
      };

      async function serviceAccount(name: string): Promise<{ email: string; member: string; token: string }> {
        const created = await as(admin).post(`/v2/projects/${projectId}/service-accounts`, {
          name,
          displayName: 'Secure API Service Account',
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const email = created.body.email as string;
        const issued = await as(admin).post(
          `/v2/projects/${projectId}/service-accounts/${enc(email)}/tokens`,
        );
        assert.equal(issued.status, 201, JSON.stringify(issued.body));
        return { email, member: `serviceAccount:${email}`, token: issued.body.token };
      }

      async function createSecret(path: string, value: string): Promise<void> {
        const created = await as(admin).post(`${instancePath}/secrets`, { path, value });
        assert.equal(created.status, 201, JSON.stringify(created.body));
      }

      async function grantAccessor(path: string, member: string): Promise<void> {
        const res = await as(admin).post(`${secretUrl(path)}/iam-policy:add-binding`, {
          role: 'roles/secretsmanager.secretAccessor',
          member,
        });
        assert.equal(res.status, 200, `add-binding on secret ${path}: ${JSON.stringify(res.body)}`);
      }

      before(async () => {
        const env: Record<string, string> = { COFFER_REGIONS: region };
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        node = await startTestNode({ env });
        admin = node.adminToken!;
        const project = await as(admin).post('/v2/projects', { displayName: 'Secure API Configuration' });
        assert.equal(project.status, 201, JSON.stringify(project.body));
        projectId = project.body.id;

        // The instance's values are encrypted under a KMS key that the application never needs to use.
        const ring = await as(admin).post(`/v2/projects/${projectId}/regions/${region}/keyrings`, {
          displayName: 'secure-api',
        });
        assert.equal(ring.status, 201, JSON.stringify(ring.body));
        const ringPath = `/v2/projects/${projectId}/regions/${region}/keyrings/${ring.body.id}`;
        const key = await as(admin).post(`${ringPath}/keys`, { algorithm: 'aes256-gcm96' });
        assert.equal(key.status, 201, JSON.stringify(key.body));
        keyPath = `${ringPath}/keys/${key.body.id}`;
        const kms = await as(admin).post(`/v2/projects/${projectId}/service-accounts`, {
          name: 'secure-api-kms',
        });
        assert.equal(kms.status, 201, JSON.stringify(kms.body));
        for (const [path, role] of [
          [`/v2/projects/${projectId}`, 'roles/secretsmanager.reader'],
          [keyPath, 'roles/kms.cryptoKeyEncrypterDecrypter'],
        ] as const) {
          const res = await as(admin).post(`${path}/iam-policy:add-binding`, {
            role,
            member: `serviceAccount:${kms.body.email}`,
          });
          assert.equal(res.status, 200, JSON.stringify(res.body));
        }
        const instance = await as(admin).post(`/v2/projects/${projectId}/regions/${region}/instances`, {
          name: 'secure-api',
          kmsKey: {
            regionId: region,
            projectId,
            serviceAccountEmail: kms.body.email,
            keyRingId: ring.body.id,
            keyId: key.body.id,
            keyVersion: 1,
          },
        });
        assert.equal(instance.status, 201, JSON.stringify(instance.body));
        instancePath = `/v2/projects/${projectId}/regions/${region}/instances/${instance.body.id}`;

        for (const path of grantedPaths) await createSecret(path, granted[path]);
        await createSecret(otherPath, '{"admin_token":"not-for-the-api"}');
        app = await serviceAccount('secure-api-sa');
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('the admin binds secretAccessor on each of the three secrets, not on the instance', async () => {
        for (const path of grantedPaths) await grantAccessor(path, app.member);
        for (const path of grantedPaths) {
          const policy = await as(admin).get(`${secretUrl(path)}/iam-policy`);
          assert.equal(policy.status, 200, JSON.stringify(policy.body));
          assert.deepEqual(policy.body.bindings, [
            { role: 'roles/secretsmanager.secretAccessor', members: [app.member] },
          ]);
        }
        const onInstance = await as(admin).get(`${instancePath}/iam-policy`);
        assert.equal(onInstance.status, 200, JSON.stringify(onInstance.body));
        assert.deepEqual(onInstance.body.bindings, []);
        const onOther = await as(admin).get(`${secretUrl(otherPath)}/iam-policy`);
        assert.deepEqual(onOther.body.bindings, []);
      });

      test('the service account reads the latest value of each of its three secrets, never cached', async () => {
        for (const path of grantedPaths) {
          const res = await latest(app.token, path);
          assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
          assert.equal(res.body.value, granted[path]);
          assert.equal(res.body.version, 1);
          assert.deepEqual(res.body.stages, ['current']);
          assert.equal(res.headers.get('cache-control'), 'no-store');
          assert.deepEqual(
            JSON.parse(res.body.value),
            JSON.parse(granted[path]),
            'the recipe’s JSON comes back',
          );
        }
      });

      test('it is refused with 403 permission_denied on a fourth secret of the same instance', async () => {
        const res = await latest(app.token, otherPath);
        assertDenied(res, `getSecretValue ${otherPath}`);
        assert.ok(!JSON.stringify(res.body).includes('not-for-the-api'));
      });

      test('it may not add a version to one of its secrets (putSecretValue)', async () => {
        const res = await as(app.token).put(`${secretUrl('db-password')}/value`, { value: 'attacker' });
        assertDenied(res, 'putSecretValue');
        const still = await latest(admin, 'db-password');
        assert.equal(still.body.version, 1);
        assert.equal(still.body.value, granted['db-password']);
      });

      test('it may not list the instance’s secrets, read their metadata or read the instance', async () => {
        assertDenied(await as(app.token).get(`${instancePath}/secrets`), 'list secrets');
        assertDenied(await as(app.token).get(`${instancePath}/secrets?prefix=api-keys%2F`), 'list by prefix');
        assertDenied(await as(app.token).get(instancePath), 'get instance');
        assertDenied(
          await as(app.token).get(`/v2/projects/${projectId}/regions/${region}/instances`),
          'list instances',
        );
        assertDenied(
          await as(app.token).get(secretUrl('db-password')),
          'secret metadata (accessor reads values only)',
        );
      });

      test('it may not see or use any KMS key, though its values are encrypted under one', async () => {
        assertDenied(await as(app.token).get(keyPath), 'get key');
        assertDenied(await as(app.token).post(`${keyPath}/encrypt`, { plaintext: b64('x') }), 'encrypt');
        assertDenied(await as(app.token).post(`${keyPath}/decrypt`, { ciphertext: b64('x') }), 'decrypt');
        assertDenied(
          await as(app.token).get(`/v2/projects/${projectId}/regions/${region}/keyrings`),
          'list key rings',
        );
      });

      test('the audit log records its three reads, and the one denied read, under the service account', async () => {
        const query = `action=secrets.get_value&principal=${enc(app.member)}`;
        const events = await as(admin).get(`/v2/projects/${projectId}/audit-events?${query}`);
        assert.equal(events.status, 200, JSON.stringify(events.body));
        const items = events.body.items as Array<{
          principal: string;
          resource: string;
          result: string;
          status: number;
          requestId: string;
        }>;
        assert.ok(items.every((e) => e.principal === app.member));
        const ok = items.filter((e) => e.result === 'ok');
        assert.deepEqual(ok.map((e) => e.resource).sort(), grantedPaths.map(secretName).sort());
        assert.ok(ok.every((e) => e.status === 200));
        const denied = items.filter((e) => e.result === 'denied');
        assert.deepEqual(
          denied.map((e) => [e.resource, e.status]),
          [[secretName(otherPath), 403]],
        );
        assert.equal(items.length, 4, JSON.stringify(items));
      });

      test('each of those reads decrypted as the instance’s service account, on behalf of the application', async () => {
        const query = `action=secrets.get_value&principal=${enc(app.member)}&result=ok`;
        const reads = (await as(admin).get(`/v2/projects/${projectId}/audit-events?${query}`)).body
          .items as Array<{
          requestId: string;
          resource: string;
        }>;
        assert.equal(reads.length, 3, JSON.stringify(reads));
        for (const read of reads) {
          const pair = await as(admin).get(
            `/v2/projects/${projectId}/audit-events?requestId=${enc(read.requestId)}&action=kms.decrypt`,
          );
          assert.equal(pair.status, 200, JSON.stringify(pair.body));
          assert.equal(pair.body.items.length, 1, `no kms.decrypt for the read of ${read.resource}`);
          assert.equal(pair.body.items[0].onBehalfOf, app.member);
          assert.match(pair.body.items[0].principal, /^serviceAccount:secure-api-kms@/);
          assert.equal(pair.body.items[0].resource, keyPath.slice('/v2/'.length));
        }
      });

      test('a rotation by adding a version (recipe step 8) is what the next latest read returns', async () => {
        const rotated =
          '{"host":"db.example.com","port":5432,"username":"api_user","password":"rotated_password_456"}';
        const put = await as(admin).put(`${secretUrl('db-password')}/value`, { value: rotated });
        assert.equal(put.status, 201, JSON.stringify(put.body));
        const res = await latest(app.token, 'db-password');
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.value, rotated);
        assert.equal(res.body.version, 2);
      });

      test('a grant on secret config does not give access to config/app', async () => {
        const other = await serviceAccount('config-reader');
        await createSecret('config', '{"feature_flags":"on"}');
        await grantAccessor('config', other.member);
        const parent = await latest(other.token, 'config');
        assert.equal(parent.status, 200, JSON.stringify(parent.body));
        assert.equal(parent.body.value, '{"feature_flags":"on"}');
        assertDenied(await latest(other.token, 'config/app'), 'config/app under a grant on config');
        assertDenied(await latest(other.token, 'db-password'), 'an unrelated secret');
        // And the other way round: the application's grant on config/app says nothing about config.
        assertDenied(await latest(app.token, 'config'), 'config under a grant on config/app');
      });
    },
  );
}
