/**
 * Attempts to break the AWS face's rules (issue 18 review, second round): a signature replayed to
 * another region, user keys for projects the user has no part in, a disabled user's key, and bodies
 * of every wrong shape, each answered with AWS's error and never a 500.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { initialAdminPrincipal } from '../src/iam/principal.ts';
import { type RawKey, rawAws } from './support/aws-raw.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

describe('AWS face: attempts to break its rules', () => {
  let node: TestNode;
  let admin: string;
  let projectId: string;
  let strangerProjectId: string;
  let ownerKey: RawKey;
  const password = 'a long enough password';

  async function project(name: string): Promise<string> {
    const created = await call(node.url, 'POST', '/v2/projects', {
      token: admin,
      body: { displayName: name },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body.id as string;
  }

  async function userToken(email: string): Promise<string> {
    await node.app.users.createUser(email, password);
    const session = await call(node.url, 'POST', '/v2/auth/login', { body: { email, password } });
    assert.equal(session.status, 200, JSON.stringify(session.body));
    return session.body.token as string;
  }

  before(async () => {
    node = await startTestNode({ env: { COFFER_AWS_REGIONS: 'auto' } });
    admin = node.adminToken!;
    projectId = await project('aws breaks');
    strangerProjectId = await project('someone else');
    const owner = await node.app.iam.createServiceAccount(projectId, 'owner-app', undefined, '');
    await node.app.iam.addBinding(
      `projects/${projectId}`,
      'roles/owner',
      `serviceAccount:${owner.email}`,
      undefined,
      initialAdminPrincipal,
    );
    const minted = await call(
      node.url,
      'POST',
      `/v2/projects/${projectId}/service-accounts/${owner.email}/access-keys`,
      { token: admin },
    );
    ownerKey = { id: minted.body.accessKeyId as string, secret: minted.body.secretAccessKey as string };
    const secret = await rawAws(
      node,
      ownerKey,
      'secretsmanager.CreateSecret',
      JSON.stringify({ Name: 'app/db', SecretString: 'the-value', ClientRequestToken: randomUUID() }),
    );
    assert.equal(secret.status, 200, JSON.stringify(secret.body));
  });

  after(() => node.destroy());

  test('a request signed for one region and sent as another region’s is refused (the scope is signed)', async () => {
    const body = JSON.stringify({ SecretId: 'app/db' });
    const honest = await rawAws(node, ownerKey, 'secretsmanager.GetSecretValue', body);
    assert.equal(honest.body.SecretString, 'the-value');
    const replayed = await rawAws(node, ownerKey, 'secretsmanager.GetSecretValue', body, {
      authorization: (signed) => signed.replace('/eu-west-1/', '/us-east-1/'),
    });
    assert.equal(replayed.body.__type, 'InvalidSignatureException', JSON.stringify(replayed.body));
    // Signed for us-east-1 (no secret there): names nothing, and never the eu-west-1 value.
    const elsewhere = await rawAws(node, ownerKey, 'secretsmanager.GetSecretValue', body, {
      region: 'us-east-1',
    });
    assert.equal(elsewhere.body.__type, 'ResourceNotFoundException', JSON.stringify(elsewhere.body));
  });

  test('a user mints its own key only for a project it holds a permission in; a stranger learns nothing', async () => {
    const token = await userToken('dev@example.com');
    const stranger = await call(node.url, 'POST', '/v2/access-keys', {
      token,
      body: { projectId: strangerProjectId },
    });
    const missing = await call(node.url, 'POST', '/v2/access-keys', {
      token,
      body: { projectId: randomUUID() },
    });
    assert.equal(stranger.status, 404, JSON.stringify(stranger.body));
    assert.equal(missing.status, 404);
    assert.equal(
      stranger.body.error.message.replace(strangerProjectId, 'P'),
      missing.body.error.message.replace(/[0-9a-f-]{36}/, 'P'),
    );
    assert.ok(!JSON.stringify(stranger.body).includes('awsAccountId'));
    // A role on the project (here: secret accessor) is enough; the key then acts with the user's rights.
    await node.app.iam.addBinding(
      `projects/${projectId}`,
      'roles/secretsmanager.secretAccessor',
      'user:dev@example.com',
      undefined,
      initialAdminPrincipal,
    );
    const own = await call(node.url, 'POST', '/v2/access-keys', { token, body: { projectId } });
    assert.equal(own.status, 201, JSON.stringify(own.body));
    const key = { id: own.body.accessKeyId as string, secret: own.body.secretAccessKey as string };
    const read = await rawAws(
      node,
      key,
      'secretsmanager.GetSecretValue',
      JSON.stringify({ SecretId: 'app/db' }),
    );
    assert.equal(read.body.SecretString, 'the-value', JSON.stringify(read.body));
    const write = await rawAws(
      node,
      key,
      'secretsmanager.PutSecretValue',
      JSON.stringify({ SecretId: 'app/db', SecretString: 'x', ClientRequestToken: randomUUID() }),
    );
    assert.equal(write.body.__type, 'AccessDeniedException');
    // Disabling the user refuses its key at once.
    await node.app.users.setUserDisabled('dev@example.com', true, initialAdminPrincipal);
    const refused = await rawAws(
      node,
      key,
      'secretsmanager.GetSecretValue',
      JSON.stringify({ SecretId: 'app/db' }),
    );
    assert.equal(refused.body.__type, 'UnrecognizedClientException', JSON.stringify(refused.body));
  });

  test('bodies of every wrong shape get AWS’s errors, never a 500, and never echo a value', async () => {
    const bodies = [
      'null',
      '[]',
      '"a string"',
      '42',
      '{',
      '{"SecretId": }',
      '\u0000\u0001',
      '{"SecretId": {"__proto__": {"polluted": true}}}',
      '{"__proto__": {"SecretId": "app/db"}}',
      '{"constructor": {"prototype": {"x": 1}}, "SecretId": 7}',
      '{"SecretId": ["app/db"]}',
      '{"SecretId": true}',
      `{"SecretId": "${'a'.repeat(3000)}"}`,
      '{"SecretId": "app/db", "VersionId": 12345678901234567890123}',
      '{"SecretId": "app/db", "VersionStage": null}',
      `${'['.repeat(5000)}${']'.repeat(5000)}`,
      '{"SecretId": "app/db", "VersionId": "not-a-version-id-but-long-enough-32"}',
    ];
    const targets = [
      'secretsmanager.GetSecretValue',
      'secretsmanager.PutSecretValue',
      'secretsmanager.ListSecrets',
      'secretsmanager.BatchGetSecretValue',
      'TrentService.Encrypt',
      'TrentService.Decrypt',
      'TrentService.CreateGrant',
    ];
    for (const target of targets)
      for (const body of bodies) {
        const answer = await rawAws(node, ownerKey, target, body);
        assert.ok(
          answer.status < 500,
          `${target} ${body.slice(0, 60)}: ${answer.status} ${JSON.stringify(answer.body)}`,
        );
        // Unknown members are ignored, as AWS ignores them: a body some operation accepts answers 200.
        if (answer.status === 200) continue;
        assert.equal(typeof answer.body.__type, 'string', `${target} ${body.slice(0, 60)}`);
        assert.ok(!String(answer.body.message).includes('the-value'));
      }
    assert.equal(({} as { polluted?: boolean }).polluted, undefined);
  });
});
