import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { GenerateRandomCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { initialAdminPrincipal } from '../src/iam/principal.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

/** An access key as the create route answers it. */
interface Key {
  accessKeyId: string;
  secretAccessKey: string;
  awsAccountId: string;
}

const region = 'eu-west-1';
const smTarget = (op: string) => `secretsmanager.${op}`;

function smClient(node: TestNode, key: Key, regionId = region): SecretsManagerClient {
  return new SecretsManagerClient({
    endpoint: node.url,
    region: regionId,
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    maxAttempts: 1,
  });
}

/** What a raw signed request may vary from a well-formed one. */
interface RawOptions {
  readonly target?: string;
  readonly service?: string;
  readonly regionId?: string;
  readonly date?: Date;
  readonly secret?: string;
  /** Sent instead of the signed body. */
  readonly sentBody?: string;
  readonly headers?: Record<string, string>;
  readonly dropHeaders?: readonly string[];
}

/** A request signed with AWS's signer, then changed as `options` say, and sent. */
async function raw(node: TestNode, key: Key, body: string, options: RawOptions = {}) {
  const host = new URL(node.url).host;
  const signer = new SignatureV4({
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: options.secret ?? key.secretAccessKey },
    region: options.regionId ?? region,
    service: options.service ?? 'secretsmanager',
    sha256: Hash.bind(null, 'sha256'),
  });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: 'http:',
      hostname: host.split(':')[0]!,
      port: Number(host.split(':')[1]),
      path: '/',
      headers: {
        host,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': options.target ?? smTarget('GetRandomPassword'),
        ...options.headers,
      },
      body,
    },
    options.date ? { signingDate: options.date } : {},
  );
  const headers = { ...(signed.headers as Record<string, string>) };
  for (const name of options.dropHeaders ?? []) delete headers[name];
  delete headers.host;
  const response = await fetch(`${node.url}/`, { method: 'POST', headers, body: options.sentBody ?? body });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text ? JSON.parse(text) : undefined) as { __type?: string; message?: string } & Record<
      string,
      unknown
    >,
  };
}

async function sdkError(
  promise: Promise<unknown>,
): Promise<{ name: string; message: string; status?: number }> {
  try {
    await promise;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return {
      name: e.name,
      message: e.message,
      ...(e.$metadata?.httpStatusCode ? { status: e.$metadata.httpStatusCode } : {}),
    };
  }
  throw new Error('expected the call to fail');
}

describe('AWS face: wire, SigV4, access keys, audit', () => {
  let node: TestNode;
  let admin: string;
  let projectId: string;
  let otherProjectId: string;
  let appEmail: string;
  let appKey: Key;
  let strangerKey: Key;

  const grant = (resource: string, role: string, member: string) =>
    node.app.iam.addBinding(resource, role, member, undefined, initialAdminPrincipal);

  async function serviceAccount(project: string, name: string): Promise<string> {
    const account = await node.app.iam.createServiceAccount(project, name, undefined, '');
    return account.email;
  }

  async function mintKey(project: string, email: string, token = admin) {
    return call(node.url, 'POST', `/v2/projects/${project}/service-accounts/${email}/access-keys`, { token });
  }

  before(async () => {
    node = await startTestNode({
      env: {
        COFFER_AWS_REGIONS: 'auto',
        COFFER_BODY_LIMIT_BYTES: '65536',
        COFFER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS: '1000',
        COFFER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS_BURST: '1000',
      },
    });
    admin = node.adminToken!;
    const created = await call(node.url, 'POST', '/v2/projects', {
      token: admin,
      body: { displayName: 'aws', awsAccountId: '111122223333' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.awsAccountId, '111122223333');
    projectId = created.body.id;
    const other = await call(node.url, 'POST', '/v2/projects', {
      token: admin,
      body: { displayName: 'other' },
    });
    otherProjectId = other.body.id;
    assert.match(other.body.awsAccountId, /^[0-9]{12}$/);
    appEmail = await serviceAccount(projectId, 'app-one');
    await grant(`projects/${projectId}`, 'roles/secretsmanager.admin', `serviceAccount:${appEmail}`);
    await grant(
      `projects/${projectId}`,
      'roles/kms.cryptoKeyEncrypterDecrypter',
      `serviceAccount:${appEmail}`,
    );
    const minted = await mintKey(projectId, appEmail);
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    appKey = minted.body;
    const strangerEmail = await serviceAccount(projectId, 'stranger');
    strangerKey = (await mintKey(projectId, strangerEmail)).body;
  });

  after(() => node?.destroy());

  test('an access key is AKIA + 16 base32 characters with a 40-character secret, shown once', async () => {
    assert.match(appKey.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
    assert.equal(appKey.secretAccessKey.length, 40);
    assert.equal(appKey.awsAccountId, '111122223333');
    const listed = await call(
      node.url,
      'GET',
      `/v2/projects/${projectId}/service-accounts/${appEmail}/access-keys`,
      {
        token: admin,
      },
    );
    assert.equal(listed.status, 200);
    assert.equal(listed.body.items.length, 1);
    assert.equal(listed.body.items[0].accessKeyId, appKey.accessKeyId);
    assert.equal(JSON.stringify(listed.body).includes(appKey.secretAccessKey), false);
    // Stored sealed: the secret is in no row as it is, and in no log line.
    const row = await node.app.storage.db.selectFrom('iam_access_keys').selectAll().executeTakeFirstOrThrow();
    assert.equal(Buffer.from(row.secret_sealed).includes(Buffer.from(appKey.secretAccessKey)), false);
    assert.equal(
      node.logLines.some((line) => line.includes(appKey.secretAccessKey)),
      false,
    );
  });

  test('a valid signature is accepted (SDK), and the answer carries x-amzn-RequestId', async () => {
    const out = await smClient(node, appKey).send(new GetRandomPasswordCommand({ PasswordLength: 20 }));
    assert.equal(out.RandomPassword?.length, 20);
    assert.ok(out.$metadata.requestId);
    const kms = new KMSClient({ endpoint: node.url, region, credentials: appKey, maxAttempts: 1 });
    const random = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 16 }));
    assert.equal(random.Plaintext?.length, 16);
  });

  test('a write is authorized and audited like its native twin, with api "aws" and the operation', async () => {
    const sm = smClient(node, appKey);
    const created = await sm.send(
      new CreateSecretCommand({ Name: 'db/password', SecretString: 's3cr3t-value' }),
    );
    assert.match(
      created.ARN!,
      /^arn:aws:secretsmanager:eu-west-1:111122223333:secret:db\/password-[A-Za-z0-9]{6}$/,
    );
    const got = await sm.send(new GetSecretValueCommand({ SecretId: 'db/password' }));
    assert.equal(got.SecretString, 's3cr3t-value');
    const events = await node.app.storage.db
      .selectFrom('audit_events')
      .selectAll()
      .where('request_id', 'in', [created.$metadata.requestId!, got.$metadata.requestId!])
      .execute();
    // The request's own event (an acting identity's kms.decrypt shares its request id).
    // The request's own event is the caller's; an acting identity's (kms.*) shares the request id.
    const own = (requestId: string | undefined) =>
      events.find((e) => e.request_id === requestId && !e.action.startsWith('kms.'))!;
    const write = own(created.$metadata.requestId);
    const read = own(got.$metadata.requestId);
    assert.equal(write.action, 'secrets.secrets.create');
    const acting = events.filter(
      (e) => e.request_id === got.$metadata.requestId && e.action.startsWith('kms.'),
    );
    assert.ok(acting.every((e) => JSON.parse(e.details!).api === 'aws'));
    assert.equal(read.action, 'secrets.get_value');
    assert.equal(read.principal, `serviceAccount:${appEmail}`);
    assert.equal(read.project_id, projectId);
    assert.deepEqual(
      { api: JSON.parse(read.details!).api, operation: JSON.parse(read.details!).operation },
      { api: 'aws', operation: 'GetSecretValue' },
    );
    assert.equal(JSON.parse(write.details!).operation, 'CreateSecret');
    assert.equal(write.result, 'ok');
    // The write went through the outbox and its row was replaced by the chained event.
    const outbox = await node.app.storage.db.selectFrom('audit_outbox').selectAll().execute();
    assert.equal(outbox.length, 0);
    assert.equal(
      events.some((event) => (event.details ?? '').includes('s3cr3t-value')),
      false,
    );
  });

  test('a caller without the permission gets AccessDeniedException, and the refusal is audited', async () => {
    const err = await sdkError(
      smClient(node, strangerKey).send(new GetSecretValueCommand({ SecretId: 'db/password' })),
    );
    assert.equal(err.name, 'AccessDeniedException');
    const denied = await node.app.storage.db
      .selectFrom('audit_events')
      .selectAll()
      .where('result', '=', 'denied')
      .where('principal', 'like', 'serviceAccount:stranger@%')
      .execute();
    assert.ok(denied.some((event) => event.action === 'secrets.get_value'));
  });

  test('one project’s key cannot reach another project’s secrets', async () => {
    // The admin's own key for the other project: the admin holds owner everywhere.
    const own = await call(node.url, 'POST', '/v2/access-keys', {
      token: admin,
      body: { projectId: otherProjectId },
    });
    assert.equal(own.status, 201, JSON.stringify(own.body));
    const otherSm = smClient(node, own.body);
    await otherSm.send(new CreateSecretCommand({ Name: 'only-there', SecretString: 'x' }));
    // The app key (project one) names the same secret: not there.
    const err = await sdkError(
      smClient(node, appKey).send(new GetSecretValueCommand({ SecretId: 'only-there' })),
    );
    assert.equal(err.name, 'ResourceNotFoundException');
    // Nor by the other account's ARN.
    const arn = (await otherSm.send(new GetSecretValueCommand({ SecretId: 'only-there' }))).ARN!;
    const byArn = await sdkError(smClient(node, appKey).send(new GetSecretValueCommand({ SecretId: arn })));
    assert.equal(byArn.name, 'ResourceNotFoundException');
  });

  test('a wrong secret, an unknown key and a body other than the signed one are refused', async () => {
    const wrong = await sdkError(
      smClient(node, { ...appKey, secretAccessKey: 'x'.repeat(40) }).send(new GetRandomPasswordCommand({})),
    );
    assert.equal(wrong.name, 'InvalidSignatureException');
    const unknown = await sdkError(
      smClient(node, { ...appKey, accessKeyId: 'AKIAAAAAAAAAAAAAAAAA' }).send(
        new GetRandomPasswordCommand({}),
      ),
    );
    assert.equal(unknown.name, 'UnrecognizedClientException');
    assert.equal(unknown.message, 'The security token included in the request is invalid.');
    const swapped = await raw(node, appKey, '{"PasswordLength":10}', { sentBody: '{"PasswordLength":11}' });
    assert.equal(swapped.status, 400);
    assert.equal(swapped.body.__type, 'InvalidSignatureException');
    assert.equal(swapped.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
    assert.ok(swapped.headers.get('x-amzn-requestid'));
    // Signed over a body, but with a content hash header naming another.
    const hashed = await raw(node, appKey, '{}', { headers: { 'x-amz-content-sha256': 'ab'.repeat(32) } });
    assert.equal(hashed.body.__type, 'InvalidSignatureException');
  });

  test('an expired or future X-Amz-Date is refused with AWS’s messages', async () => {
    const expired = await raw(node, appKey, '{}', { date: new Date(Date.now() - 10 * 60_000) });
    assert.equal(expired.body.__type, 'InvalidSignatureException');
    assert.match(expired.body.message!, /^Signature expired: \d{8}T\d{6}Z is now earlier than/);
    const future = await raw(node, appKey, '{}', { date: new Date(Date.now() + 10 * 60_000) });
    assert.equal(future.body.__type, 'InvalidSignatureException');
    assert.match(future.body.message!, /^Signature not yet current/);
    const skewed = await raw(node, appKey, '{}', { date: new Date(Date.now() - 2 * 60_000) });
    assert.equal(skewed.status, 200, JSON.stringify(skewed.body));
  });

  test('a missing or garbled Authorization header, or a wrong scope, is refused', async () => {
    const missing = await raw(node, appKey, '{}', { dropHeaders: ['authorization'] });
    assert.equal(missing.body.__type, 'MissingAuthenticationTokenException');
    const garbledResponse = await fetch(`${node.url}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': smTarget('GetRandomPassword'),
        authorization: 'AWS4-HMAC-SHA256 Credential=garbage',
        'x-amz-date': '20260101T000000Z',
      },
      body: '{}',
    });
    const garbled = {
      status: garbledResponse.status,
      body: (await garbledResponse.json()) as { __type: string },
    };
    assert.equal(garbled.status, 400);
    assert.equal(garbled.body.__type, 'IncompleteSignatureException');
    const bearer = await fetch(`${node.url}/`, {
      method: 'POST',
      headers: { 'x-amz-target': smTarget('GetRandomPassword'), authorization: `Bearer ${admin}` },
      body: '{}',
    });
    assert.equal(((await bearer.json()) as { __type: string }).__type, 'IncompleteSignatureException');
    const wrongService = await raw(node, appKey, '{}', { service: 'kms' });
    assert.equal(wrongService.body.__type, 'InvalidSignatureException');
    assert.match(wrongService.body.message!, /correct service: 'secretsmanager'/);
    const badRegion = await raw(node, appKey, '{}', { regionId: 'not_a_region' });
    assert.equal(badRegion.body.__type, 'InvalidSignatureException');
    assert.match(badRegion.body.message!, /valid region/);
    // A configured region works as well as any AWS region name under aws.regions: auto.
    const configured = await raw(node, appKey, '{}', { regionId: 'local' });
    assert.equal(configured.status, 200, JSON.stringify(configured.body));
  });

  test('an unknown target, malformed JSON, wrong types and missing members get AWS’s errors', async () => {
    const unknownOp = await raw(node, appKey, '{}', { target: smTarget('LaunchRockets') });
    assert.equal(unknownOp.body.__type, 'UnknownOperationException');
    const unknownService = await raw(node, appKey, '{}', { target: 'DynamoDB_20120810.ListTables' });
    assert.equal(unknownService.body.__type, 'UnknownOperationException');
    const malformed = await raw(node, appKey, '{"PasswordLength": ');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.__type, 'SerializationException');
    const wrongType = await raw(node, appKey, '{"PasswordLength":"twenty"}');
    assert.equal(wrongType.body.__type, 'SerializationException');
    const missing = await raw(node, appKey, '{}', { target: smTarget('GetSecretValue') });
    assert.equal(missing.body.__type, 'ValidationException');
    assert.match(
      missing.body.message!,
      /^1 validation error detected: Value at 'secretId' failed to satisfy constraint: Member must not be null/,
    );
    const array = await raw(node, appKey, '[1,2]');
    assert.equal(array.body.__type, 'SerializationException');
  });

  test('a body over the limit is answered 413 with an AWS JSON error', async () => {
    const huge = JSON.stringify({ Name: 'big', SecretString: 'x'.repeat(70_000) });
    const res = await raw(node, appKey, huge, { target: smTarget('CreateSecret') });
    assert.equal(res.status, 413);
    assert.equal(res.body.__type, 'ValidationException');
    assert.ok(res.headers.get('x-amzn-requestid'));
  });

  test('disabling an access key or its service account refuses it at once; enabling restores it', async () => {
    const sm = smClient(node, appKey);
    const base = `/v2/projects/${projectId}/service-accounts/${appEmail}/access-keys/${appKey.accessKeyId}`;
    assert.equal((await call(node.url, 'POST', `${base}/disable`, { token: admin })).status, 200);
    assert.equal(
      (await sdkError(sm.send(new GetRandomPasswordCommand({})))).name,
      'UnrecognizedClientException',
    );
    assert.equal((await call(node.url, 'POST', `${base}/enable`, { token: admin })).status, 200);
    await sm.send(new GetRandomPasswordCommand({}));
    await node.app.iam.setServiceAccountDisabled(projectId, appEmail, true);
    assert.equal(
      (await sdkError(sm.send(new GetRandomPasswordCommand({})))).name,
      'UnrecognizedClientException',
    );
    await node.app.iam.setServiceAccountDisabled(projectId, appEmail, false);
    await sm.send(new GetRandomPasswordCommand({}));
  });

  test('minting a service account’s key needs act_as; nobody mints a user’s key but the user', async () => {
    // An IAM admin (no act_as, no access_keys.create) cannot mint a key for an account it administers.
    const iamAdmin = await serviceAccount(projectId, 'iam-admin');
    await grant(`projects/${projectId}`, 'roles/iam.admin', `serviceAccount:${iamAdmin}`);
    const token = (await node.app.iam.createToken(projectId, iamAdmin, 600, initialAdminPrincipal)).token;
    const refused = await mintKey(projectId, appEmail, token);
    assert.equal(refused.status, 403);
    // It may list and disable them (no secret shown), but not enable one (that needs act_as).
    const listed = await call(
      node.url,
      'GET',
      `/v2/projects/${projectId}/service-accounts/${appEmail}/access-keys`,
      { token },
    );
    assert.equal(listed.status, 200);
    const enable = await call(
      node.url,
      'POST',
      `/v2/projects/${projectId}/service-accounts/${appEmail}/access-keys/${appKey.accessKeyId}/enable`,
      { token },
    );
    assert.equal(enable.status, 403);
    // A key of one project's account is not reachable through another project's URL.
    const crossed = await mintKey(otherProjectId, appEmail);
    assert.equal(crossed.status, 404);
    // A service account cannot mint a "user" key for itself, and a user key is only ever the caller's.
    const ownBySa = await call(node.url, 'POST', '/v2/access-keys', { token, body: { projectId } });
    assert.equal(ownBySa.status, 400);
    // Time-bound act_as: refused (an access key never expires).
    const temp = await serviceAccount(projectId, 'temp-minter');
    await node.app.iam.addBinding(
      `projects/${projectId}`,
      'roles/owner',
      `serviceAccount:${temp}`,
      { title: 'until soon', expiresAtMs: Date.now() + 3_600_000 },
      initialAdminPrincipal,
    );
    const tempToken = (await node.app.iam.createToken(projectId, temp, 600, initialAdminPrincipal)).token;
    const bounded = await mintKey(projectId, appEmail, tempToken);
    assert.equal(bounded.status, 403, JSON.stringify(bounded.body));
    // Another user's keys: listing needs iam.access_keys.list at the root.
    const others = await call(node.url, 'GET', '/v2/users/admin@coffer.internal/access-keys', { token });
    assert.equal(others.status, 403);
    const mine = await call(node.url, 'GET', '/v2/users/admin@coffer.internal/access-keys', { token: admin });
    assert.equal(mine.status, 200);
    assert.equal(mine.body.items.length, 1);
  });

  test('a user’s own key can be disabled by the user and deleted by an administrator', async () => {
    const own = await call(node.url, 'POST', '/v2/access-keys', { token: admin, body: { projectId } });
    const key = own.body as Key;
    const sm = smClient(node, key);
    await sm.send(new GetRandomPasswordCommand({}));
    assert.equal(
      (await call(node.url, 'POST', `/v2/access-keys/${key.accessKeyId}/disable`, { token: admin })).status,
      200,
    );
    assert.equal(
      (await sdkError(sm.send(new GetRandomPasswordCommand({})))).name,
      'UnrecognizedClientException',
    );
    const deleted = await call(
      node.url,
      'DELETE',
      `/v2/users/admin@coffer.internal/access-keys/${key.accessKeyId}`,
      {
        token: admin,
      },
    );
    assert.equal(deleted.status, 204);
    assert.equal(
      (await call(node.url, 'POST', `/v2/access-keys/${key.accessKeyId}/enable`, { token: admin })).status,
      404,
    );
  });

  test('a service account may disable its own key but never revive it (that needs act_as)', async () => {
    const email = await serviceAccount(projectId, 'self-reviver');
    const key = (await mintKey(projectId, email)).body as Key;
    const token = (await node.app.iam.createToken(projectId, email, 600, initialAdminPrincipal)).token;
    const own = await call(node.url, 'GET', '/v2/access-keys', { token });
    assert.deepEqual(
      own.body.items.map((k: { accessKeyId: string }) => k.accessKeyId),
      [key.accessKeyId],
    );
    const path = `/v2/access-keys/${key.accessKeyId}`;
    assert.equal((await call(node.url, 'POST', `${path}/disable`, { token })).status, 200);
    assert.equal((await call(node.url, 'POST', `${path}/enable`, { token })).status, 400);
    const refused = await sdkError(smClient(node, key).send(new GetRandomPasswordCommand({})));
    assert.equal(refused.name, 'UnrecognizedClientException');
    // Nor another principal's key through the own-key routes.
    assert.equal(
      (await call(node.url, 'POST', `/v2/access-keys/${appKey.accessKeyId}/disable`, { token })).status,
      404,
    );
  });

  test('test mode is off: /moto-api/reset answers 404', async () => {
    const res = await call(node.url, 'POST', '/moto-api/reset');
    assert.equal(res.status, 404);
  });

  test('fail closed: a value whose audit event cannot be written is withheld (503)', async () => {
    const sm = smClient(node, appKey);
    const admin = new DatabaseSync(join(node.dataDir, 'coffer.db'));
    admin.exec('PRAGMA busy_timeout = 5000; ALTER TABLE audit_events RENAME TO audit_events_gone');
    try {
      const res = await raw(node, appKey, JSON.stringify({ SecretId: 'db/password' }), {
        target: smTarget('GetSecretValue'),
      });
      assert.equal(res.status, 503);
      assert.equal(res.body.__type, 'ServiceUnavailableException');
      assert.equal(JSON.stringify(res.body).includes('s3cr3t-value'), false);
    } finally {
      admin.exec('ALTER TABLE audit_events_gone RENAME TO audit_events');
      admin.close();
    }
    assert.equal(
      (await sm.send(new GetSecretValueCommand({ SecretId: 'db/password' }))).SecretString,
      's3cr3t-value',
    );
  });

  test('sealed: every request is answered 503 ServiceUnavailableException (last: the node stays sealed)', async () => {
    await node.app.seal();
    const err = await sdkError(
      smClient(node, appKey).send(new GetSecretValueCommand({ SecretId: 'db/password' })),
    );
    assert.equal(err.name, 'ServiceUnavailableException');
    assert.equal(err.status, 503);
  });
});
