import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { CachedSecretReader, CofferClient } from '../src/sdk/index.ts';
import { runCoffer } from './support/cli-process.ts';
import { unsealWith } from './support/unseal.ts';
import { call, startTestNode } from './support/test-node.ts';

/**
 * Plants known secret material through every kind of route — secret values (text and binary, good
 * and oversize), KMS plaintexts and data keys, tokens, passwords, unseal shares — then greps every
 * audit event and every log line for it, raw and base64.
 */
test('no secret value, plaintext, token, password or share ever reaches an audit event or a log line', async () => {
  const node = await startTestNode({ env: { COFFER_LOG_LEVEL: 'trace' } });
  const shamir = await startTestNode({ env: { COFFER_SEAL: 'shamir', COFFER_LOG_LEVEL: 'trace' } });
  const admin = node.adminToken!;
  const planted: string[] = [admin];
  const api = (method: string, path: string, body?: unknown, token: string | undefined = admin) =>
    call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
  try {
    const value = 'PLANTED-secret-value-4f1c';
    const binary = Buffer.from('PLANTED-binary-7a2e');
    const plaintext = 'PLANTED-kms-plaintext-9b3d';
    const password = 'PLANTED-password-c8d1e2';
    planted.push(
      value,
      binary.toString('base64'),
      plaintext,
      Buffer.from(plaintext).toString('base64'),
      password,
    );

    const project = (await api('POST', '/v2/projects', {})).body.id;
    const region = `/v2/projects/${project}/regions/local`;
    const ring = (await api('POST', `${region}/keyrings`, { displayName: 'r' })).body.id;
    const key = (
      await api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96', slug: 'k' })
    ).body.id;
    const keyPath = `${region}/keyrings/${ring}/keys/${key}`;
    const enc = await api('POST', `${keyPath}/encrypt`, {
      plaintext: Buffer.from(plaintext).toString('base64'),
    });
    await api('POST', `${keyPath}/decrypt`, { ciphertext: enc.body.ciphertext });
    const dataKey = await api('POST', `${keyPath}/generate-data-key`, { numberOfBytes: 32 });
    planted.push(dataKey.body.plaintext);
    await api('POST', `${keyPath}/encrypt`, { plaintext: 'not base64 ' + plaintext });

    const instance = (await api('POST', `${region}/instances`, { name: 'i' })).body.id;
    const secrets = `${region}/instances/${instance}/secrets`;
    await api('POST', secrets, { path: 'a', value, kmsKeyIdentity: 'k' });
    await api('POST', secrets, { path: 'b', binaryValue: binary.toString('base64') });
    await api('PUT', `${secrets}/a/value`, { value: `${value}-2` });
    await api('GET', `${secrets}/a/value`);
    await api('GET', `${secrets}/b/value`);
    await api('POST', `${secrets}:batchGetValues`, { secrets: ['a', 'b'] });
    await api('PUT', `${secrets}/a/value`, { value: value + 'x'.repeat(70_000) });
    await api('PUT', `${secrets}/a/value`, { value, colour: value });

    const sa = (await api('POST', `/v2/projects/${project}/service-accounts`, { name: 'leaky-sa' })).body
      .email;
    const issued = await api(
      'POST',
      `/v2/projects/${project}/service-accounts/${encodeURIComponent(sa)}/tokens`,
      {},
    );
    planted.push(issued.body.token);
    await api('GET', '/v2/projects', undefined, issued.body.token);
    await api('POST', '/v2/users', { email: 'leak@example.com', password });
    const login = await api('POST', '/v2/auth/login', { email: 'leak@example.com', password }, undefined);
    planted.push(login.body.token);
    await api(
      'POST',
      '/v2/auth/login',
      { email: 'leak@example.com', password: `${password}-wrong` },
      undefined,
    );

    const init = await call(shamir.url, 'POST', '/v2/sys/init', {
      body: { secretShares: 3, secretThreshold: 2 },
    });
    planted.push(init.body.rootToken, ...init.body.keys);
    await unsealWith(shamir.url, init.body.keys.slice(0, 2));

    const events = JSON.stringify([
      ...(await node.app.storage.db.selectFrom('audit_events').selectAll().execute()),
      ...(await shamir.app.storage.db.selectFrom('audit_events').selectAll().execute()),
    ]);
    const logs = [...node.logLines, ...shamir.logLines];
    assert.ok(logs.length > 20, 'the nodes logged');
    for (const secret of planted) {
      assert.ok(!events.includes(secret), `an audit event carries ${secret.slice(0, 12)}…`);
      for (const line of logs)
        assert.ok(
          !line.includes(secret),
          `a log line carries ${secret.slice(0, 12)}…: ${line.slice(0, 200)}`,
        );
    }
  } finally {
    await node.destroy();
    await shamir.destroy();
  }
});

/**
 * The same planted-value check for the clients: every SDK error (a value that is not JSON, a refused
 * write, an oversize value) and the output of CLI commands that fail after reading or sending a
 * value never show it.
 */
test('no error from the SDK or the CLI carries a secret value', async () => {
  const node = await startTestNode();
  const dir = mkdtempSync(join(tmpdir(), 'coffer-no-leak-'));
  const planted = 'PLANTED-client-value-5e6f';
  // JSON.parse quotes the first 10 characters of what it cannot parse: look for any of the value.
  const fragment = planted.slice(0, 10);
  try {
    const client = new CofferClient({ address: node.url, token: node.adminToken, retry: { maxAttempts: 1 } });
    const projectId = (await client.projects.create({ displayName: 'no-leak' })).id;
    const instance = await client.secrets.createInstance({ projectId, regionId: 'local' }, { name: 'i' });
    const ref = { projectId, regionId: 'local', instanceId: instance.id };
    await client.secrets.createSecret(ref, { path: 'json/bad', value: `${planted} {not json` });
    await client.secrets.createSecret(ref, { path: 'json/bad2', value: `{"a": "${planted}` });
    await client.secrets.createSecret(ref, { path: 'nul', value: `${planted}\u0000` });
    await client.secrets.createSecret(ref, { path: 'ok', value: planted });

    const reader = new CachedSecretReader({ client, instance: ref });
    const failures: unknown[] = [];
    const expectFailure = async (what: string, run: () => Promise<unknown>) => {
      try {
        await run();
      } catch (err) {
        failures.push(err);
        return;
      }
      assert.fail(`${what} should have failed`);
    };
    await expectFailure('getJson of text', () => reader.getJson('json/bad'));
    await expectFailure('getJson of broken JSON', () => reader.getJson('json/bad2'));
    const secret = { ...ref, secret: 'ok' };
    await client.secrets.putSecretValue(secret, { value: `${planted}-1` }, { idempotencyKey: 'k-leak' });
    await expectFailure('a reused idempotency key', () =>
      client.secrets.putSecretValue(secret, { value: `${planted}-2` }, { idempotencyKey: 'k-leak' }),
    );
    await expectFailure('an oversize value', () =>
      client.secrets.putSecretValue(secret, { value: planted + 'x'.repeat(70_000) }),
    );
    await expectFailure('a stale expected version', () =>
      client.secrets.putSecretValue(secret, { value: planted, expectedLatestVersion: 1 }),
    );
    assert.equal(failures.length, 5);
    assert.match(String(failures[0]), /^SyntaxError: The value of secret json\/bad is not valid JSON\.$/);
    for (const err of failures) {
      const shown = [String(err), (err as Error).stack, inspect(err, { depth: 8 }), JSON.stringify(err)].join(
        '\n',
      );
      assert.ok(!shown.includes(fragment), `an SDK error shows the value: ${shown.slice(0, 300)}`);
    }

    const env = {
      COFFER_ADDR: node.url,
      COFFER_TOKEN: node.adminToken!,
      COFFER_PROJECT: projectId,
      COFFER_REGION: 'local',
      COFFER_INSTANCE: instance.id,
      COFFER_CONFIG_DIR: join(dir, 'config'),
    };
    const results = await Promise.all([
      runCoffer(['run', '--secret=X=ok', '--', 'no-such-command-coffer'], env),
      runCoffer(['run', '--secret=X=nul', '--', process.execPath, '-e', '0'], env),
      runCoffer(['run', '--secret=X=ok', '--secret=Y=missing', '--', process.execPath, '-e', '0'], env),
      runCoffer(['secrets', 'create', 'ok', '--data-file', '-'], env, planted),
      runCoffer(['secrets', 'versions', 'add', 'ok', '--data-file', '-'], env, planted + 'x'.repeat(70_000)),
      runCoffer(
        ['secrets', 'versions', 'add', 'ok', '--data-file', '-', '--expected-latest-version', '1'],
        env,
        planted,
      ),
    ]);
    for (const [i, result] of results.entries()) {
      assert.notEqual(result.code, 0, `command ${i} should fail: ${result.stdout}`);
      assert.ok(result.stderr.length > 0, `command ${i} says why`);
      assert.ok(
        !result.stdout.includes(fragment) && !result.stderr.includes(fragment),
        `command ${i} shows the value: ${result.stderr}`,
      );
    }
  } finally {
    await node.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
