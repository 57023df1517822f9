import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CofferClient, type KeyRef } from '../src/sdk/index.ts';
import { cofferBin } from './support/cli-process.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

/** Runs `coffer ARGS` until its output is closed. */
async function runCoffer(args: string[], env: Record<string, string>, input?: string) {
  const child = spawn(process.execPath, [cofferBin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => undefined);
  child.stdin.end(input);
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

describe('coffer service-accounts, instances and operations', () => {
  let node: TestNode;
  let dir: string;
  let env: Record<string, string>;
  let admin: CofferClient;
  let projectId: string;
  let key: KeyRef;
  const ok = async (args: string[], input?: string) => {
    const result = await runCoffer(args, env, input);
    assert.equal(result.code, 0, `coffer ${args.join(' ')}: ${result.stderr}`);
    return result;
  };
  const json = async <T>(args: string[], input?: string): Promise<T> =>
    JSON.parse((await ok([...args, '--format=json'], input)).stdout) as T;

  before(async () => {
    node = await startTestNode();
    dir = mkdtempSync(join(tmpdir(), 'coffer-cli-instances-'));
    admin = new CofferClient({ address: node.url, token: node.adminToken });
    projectId = (await admin.projects.create({ displayName: 'cli-instances' })).id;
    const region = { projectId, regionId: 'local' };
    const ring = await admin.kms.createKeyRing(region, { displayName: 'app-ring' });
    const created = await admin.kms.createKey(
      { ...region, keyRingId: ring.id },
      { algorithm: 'aes256-gcm96', slug: 'data-key' },
    );
    key = { ...region, keyRingId: ring.id, keyId: created.id };
    env = {
      COFFER_ADDR: node.url,
      COFFER_TOKEN: node.adminToken!,
      COFFER_PROJECT: projectId,
      COFFER_REGION: '',
      COFFER_INSTANCE: '',
      COFFER_CONFIG_DIR: join(dir, 'config'),
    };
  });
  after(async () => {
    await node?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('service accounts and tokens: create, list, describe, disable, enable, issue, list and revoke', async () => {
    const account = await json<{ email: string }>([
      'service-accounts',
      'create',
      'rewrapper',
      '--display-name=Rewrap',
    ]);
    assert.equal(account.email, `rewrapper@${projectId}.iam.coffer.internal`);
    const [listed, disabled, issued] = await Promise.all([
      ok(['service-accounts', 'list']),
      json<{ disabled: boolean }>(['service-accounts', 'disable', 'rewrapper']),
      json<{ id: string; token: string }>(['service-accounts', 'tokens', 'create', 'rewrapper']),
    ]);
    assert.match(listed.stdout, /rewrapper@\S+\s+Rewrap\s+(true|false)\s/);
    assert.equal(disabled.disabled, true);
    assert.match(issued.token, /^cfr_/);
    const [enabled, tokens] = await Promise.all([
      json<{ disabled: boolean }>(['service-accounts', 'enable', account.email]),
      ok(['service-accounts', 'tokens', 'list', 'rewrapper']),
    ]);
    assert.equal(enabled.disabled, false);
    assert.match(tokens.stdout, new RegExp(`${issued.id}\\s+\\S+\\s+never`));
    assert.doesNotMatch(tokens.stdout, /cfr_/);
    await ok(['service-accounts', 'tokens', 'revoke', 'rewrapper', issued.id]);
    const [after, described] = await Promise.all([
      json<unknown[]>(['service-accounts', 'tokens', 'list', 'rewrapper']),
      json<{ email: string }>(['service-accounts', 'describe', 'rewrapper']),
    ]);
    assert.deepEqual(after, []);
    assert.equal(described.email, account.email);
  });

  test('instances create, list and describe; update switches the key and waits for the rewrap', async () => {
    const email = `rewrapper@${projectId}.iam.coffer.internal`;
    const member = `serviceAccount:${email}`;
    const [created] = await Promise.all([
      json<{ id: string; name: string }>(['instances', 'create', 'main']),
      ok([
        'projects',
        'add-iam-policy-binding',
        projectId,
        `--member=${member}`,
        '--role=roles/secretsmanager.reader',
      ]),
      ok([
        'kms',
        'keys',
        'add-iam-policy-binding',
        'data-key',
        '--keyring=app-ring',
        `--member=${member}`,
        '--role=roles/kms.cryptoKeyEncrypterDecrypter',
      ]),
    ]);
    const ref = { projectId, regionId: 'local', instanceId: created.id };
    for (const path of ['one', 'two', 'three']) await admin.secrets.createSecret(ref, { path, value: path });
    const listed = await ok(['instances', 'list']);
    assert.match(listed.stdout, new RegExp(`${created.id}\\s+main\\s+\\d{4}-`));

    const updated = await ok([
      'instances',
      'update',
      'main',
      '--kms-keyring=app-ring',
      '--kms-key=data-key',
      `--kms-service-account=${email}`,
      '--format=json',
    ]);
    const operation = JSON.parse(updated.stdout) as {
      id: string;
      done: boolean;
      progress: { total: number; done: number };
    };
    assert.equal(operation.done, true);
    assert.equal(operation.progress.done, operation.progress.total);
    assert.match(
      updated.stderr,
      new RegExp(`operation ${operation.id}: \\w+ \\d+/\\d+`),
      'plain progress lines off a terminal',
    );
    const [described, waited, instance, value] = await Promise.all([
      json<{ done: boolean }>(['operations', 'describe', operation.id]),
      ok(['operations', 'wait', operation.id]),
      json<{ kmsKey: { serviceAccountEmail: string; keyId: string } }>(['instances', 'describe', 'main']),
      ok(['secrets', 'versions', 'access', 'latest', '--secret=two', '--instance=main']),
    ]);
    assert.equal(described.done, true);
    assert.match(waited.stdout, new RegExp(`Operation ${operation.id} done`));
    assert.deepEqual([instance.kmsKey.serviceAccountEmail, instance.kmsKey.keyId], [email, key.keyId]);
    assert.equal(value.stdout, 'two');

    const renamed = await json<{ name: string }>(['instances', 'update', created.id, '--name=primary']);
    assert.equal(renamed.name, 'primary');
  });

  test('an instance is deleted only when empty', async () => {
    const spare = await json<{ id: string }>(['instances', 'create', 'spare']);
    await admin.secrets.createSecret(
      { projectId, regionId: 'local', instanceId: spare.id },
      { path: 'x', value: 'x' },
    );
    const refused = await runCoffer(['instances', 'delete', 'spare'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /HTTP 4\d\d/);
    await admin.secrets.deleteSecret(
      { projectId, regionId: 'local', instanceId: spare.id, secret: 'x' },
      { recoveryWindowDays: 0 },
    );
    await ok(['instances', 'delete', spare.id]);
  });
});
