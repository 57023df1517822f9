import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { loadConfig } from '../src/core/config.ts';
import { initialAdminPrincipal } from '../src/iam/principal.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();

describe('AWS test mode', () => {
  test('refuses to start on a non-loopback address, and is off by default', () => {
    assert.throws(
      () =>
        loadConfig({
          env: {
            COFFER_AWS_TEST_MODE: 'true',
            COFFER_LISTEN: '0.0.0.0:8270',
            COFFER_INSECURE_PLAINTEXT: 'true',
          },
        }),
      /aws\.test\.enabled: AWS test mode refuses to start on 0\.0\.0\.0:8270/,
    );
    assert.equal(loadConfig({ env: {} }).aws.test.enabled, false);
    assert.equal(loadConfig({ env: { COFFER_AWS_TEST_MODE: 'true' } }).aws.test.accountId, '123456789012');
  });
});

// On PostgreSQL: the reset deletes rows of every table there, and access keys and account ids are stored there.
describe('AWS test mode and access keys on PostgreSQL', { skip: postgresSkip ?? false }, () => {
  let database: TestDatabase;
  let node: TestNode;
  const testKey = { accessKeyId: 'AKIDTESTMODE', secretAccessKey: 'test-mode-secret' };
  const client = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
    new SecretsManagerClient({ endpoint: node.url, region: 'us-east-1', credentials, maxAttempts: 1 });

  before(async () => {
    database = await createTestDatabase();
    node = await startTestNode({
      env: {
        COFFER_DATABASE_URL: database.url,
        COFFER_AWS_REGIONS: 'auto',
        COFFER_AWS_TEST_MODE: 'true',
        COFFER_AWS_TEST_ACCESS_KEY_ID: testKey.accessKeyId,
        COFFER_AWS_TEST_SECRET_ACCESS_KEY: testKey.secretAccessKey,
        COFFER_AWS_TEST_ACCOUNT_ID: '000000000042',
        // A small failed-auth budget that refills slowly (the last test spends it).
        COFFER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS: '0.1',
        COFFER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS_BURST: '6',
      },
    });
  });

  after(async () => {
    await node?.destroy();
    await database?.drop();
  });

  test('the static key administers the test project; a wrong secret for it is refused', async () => {
    const sm = client(testKey);
    const created = await sm.send(new CreateSecretCommand({ Name: 'app/token', SecretString: 'v1' }));
    assert.match(created.ARN!, /^arn:aws:secretsmanager:us-east-1:000000000042:secret:app\/token-/);
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'app/token' }))).SecretString, 'v1');
    const wrong = await client({ ...testKey, secretAccessKey: 'nope' })
      .send(new GetSecretValueCommand({ SecretId: 'app/token' }))
      .catch((err: Error) => err);
    assert.equal((wrong as Error).name, 'InvalidSignatureException');
  });

  test('the static key is refused while its service account is disabled', async () => {
    const admin = node.adminToken!;
    const projects = await call(node.url, 'GET', '/v2/projects', { token: admin });
    const project = (projects.body.items as Array<{ id: string; awsAccountId: string }>).find(
      (p) => p.awsAccountId === '000000000042',
    )!;
    const account = `/v2/projects/${project.id}/service-accounts/aws-test@${project.id}.iam.coffer.internal`;
    assert.equal((await call(node.url, 'POST', `${account}/disable`, { token: admin })).status, 200);
    const refused = await client(testKey)
      .send(new GetSecretValueCommand({ SecretId: 'app/token' }))
      .catch((err: Error) => err);
    assert.equal((refused as Error).name, 'UnrecognizedClientException');
    assert.equal((await call(node.url, 'POST', `${account}/enable`, { token: admin })).status, 200);
    const value = await client(testKey).send(new GetSecretValueCommand({ SecretId: 'app/token' }));
    assert.equal(value.SecretString, 'v1');
  });

  test('access keys and account ids are stored on PostgreSQL: a minted key signs, disabled it is refused', async () => {
    const admin = node.adminToken!;
    const project = await call(node.url, 'POST', '/v2/projects', {
      token: admin,
      body: { awsAccountId: '777788889999' },
    });
    assert.equal(project.status, 201);
    const taken = await call(node.url, 'POST', '/v2/projects', {
      token: admin,
      body: { awsAccountId: '777788889999' },
    });
    assert.equal(taken.status, 409);
    const key = await call(node.url, 'POST', '/v2/access-keys', {
      token: admin,
      body: { projectId: project.body.id },
    });
    assert.equal(key.status, 201);
    assert.equal(key.body.awsAccountId, '777788889999');
    const sm = client(key.body);
    const created = await sm.send(new CreateSecretCommand({ Name: 'pg-secret', SecretString: 'x' }));
    assert.match(created.ARN!, /:777788889999:secret:pg-secret-/);
    await call(node.url, 'POST', `/v2/access-keys/${key.body.accessKeyId}/disable`, { token: admin });
    const refused = await sm
      .send(new GetSecretValueCommand({ SecretId: 'pg-secret' }))
      .catch((err: Error) => err);
    assert.equal((refused as Error).name, 'UnrecognizedClientException');
  });

  test('POST /moto-api/reset is refused from a web page (Origin, Sec-Fetch-Site) and through a non-loopback Host', async () => {
    const sm = client(testKey);
    await sm.send(new CreateSecretCommand({ Name: 'app/kept', SecretString: 'kept' }));
    const { port } = new URL(node.url);
    const post = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const request = httpRequest(
          { host: '127.0.0.1', port, method: 'POST', path: '/moto-api/reset', headers },
          (response) => {
            response.resume();
            resolve(response.statusCode!);
          },
        );
        request.on('error', reject);
        request.end('x');
      });
    assert.equal(await post({ origin: 'http://evil.example', 'content-type': 'text/plain' }), 403);
    assert.equal(await post({ 'sec-fetch-site': 'cross-site' }), 403);
    assert.equal(await post({ host: `rebound.example:${port}` }), 403);
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'app/kept' }))).SecretString, 'kept');
  });

  test('a key disabled on one node is refused by another node on the same database once the feed moves', async () => {
    const admin = node.adminToken!;
    const project = await call(node.url, 'POST', '/v2/projects', { token: admin, body: {} });
    const key = await call(node.url, 'POST', '/v2/access-keys', {
      token: admin,
      body: { projectId: project.body.id },
    });
    const secondDir = mkdtempSync(join(tmpdir(), 'coffer-aws-second-'));
    copyFileSync(join(node.dataDir, 'seal.key'), join(secondDir, 'seal.key'));
    const second = await startTestNode({
      dataDir: secondDir,
      env: { COFFER_DATABASE_URL: database.url, COFFER_AWS_REGIONS: 'auto' },
    });
    try {
      const remote = new SecretsManagerClient({
        endpoint: second.url,
        region: 'us-east-1',
        credentials: key.body,
        maxAttempts: 1,
      });
      await remote.send(new CreateSecretCommand({ Name: 'two-nodes', SecretString: 'x' }));
      // Cached on the second node now; disabled on the first.
      await call(node.url, 'POST', `/v2/access-keys/${key.body.accessKeyId}/disable`, { token: admin });
      await second.app.syncChanges();
      const refused = await remote
        .send(new GetSecretValueCommand({ SecretId: 'two-nodes' }))
        .catch((err: Error) => err);
      assert.equal((refused as Error).name, 'UnrecognizedClientException');
    } finally {
      await second.destroy();
      rmSync(secondDir, { recursive: true, force: true });
    }
  });

  test('POST /moto-api/reset wipes all state; the node stays initialized and the test project comes back', async () => {
    const reset = await call(node.url, 'POST', '/moto-api/reset');
    assert.equal(reset.status, 200);
    const sm = client(testKey);
    const gone = await sm
      .send(new GetSecretValueCommand({ SecretId: 'app/token' }))
      .catch((err: Error) => err);
    assert.equal((gone as Error).name, 'ResourceNotFoundException');
    await sm.send(new CreateSecretCommand({ Name: 'app/token', SecretString: 'v2' }));
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'app/token' }))).SecretString, 'v2');
    // The first admin's token and the root policy survive; every other project is gone.
    const projects = await call(node.url, 'GET', '/v2/projects', { token: node.adminToken! });
    assert.equal(projects.status, 200);
    assert.deepEqual(
      projects.body.items.map((p: { awsAccountId: string }) => p.awsAccountId),
      ['000000000042'],
    );
    const keys = await node.app.storage.db.selectFrom('iam_access_keys').selectAll().execute();
    assert.equal(keys.length, 0);
    assert.ok(await node.app.authorizer.holds(initialAdminPrincipal, 'projects.create', 'root'));
    // The audit trail is kept whole and still verifies.
    const verify = await call(node.url, 'GET', '/v2/sys/audit/verify', { token: node.adminToken! });
    assert.equal(verify.status, 200, JSON.stringify(verify.body));
    assert.equal(verify.body.valid, true, JSON.stringify(verify.body));
  });

  test('failed signatures spend the address’s failed-auth budget: then even a valid key is throttled', async () => {
    const wrong = client({ ...testKey, secretAccessKey: 'wrong' });
    let last: unknown;
    for (let attempt = 0; attempt < 40; attempt++) {
      last = await wrong
        .send(new GetSecretValueCommand({ SecretId: 'app/token' }))
        .catch((err: Error) => err);
      if ((last as Error).name === 'ThrottlingException') break;
    }
    assert.equal((last as Error).name, 'ThrottlingException');
    const valid = await client(testKey)
      .send(new GetSecretValueCommand({ SecretId: 'app/token' }))
      .catch((err: Error) => err);
    assert.equal((valid as Error).name, 'ThrottlingException');
  });
});
