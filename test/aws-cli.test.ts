import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CofferClient } from '../src/sdk/index.ts';
import { runCoffer } from './support/cli-process.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

// Debian's AWS CLI v2 (installed by .ci/run), never another `aws` earlier on PATH.
const awsBin = '/usr/bin/aws';
const missing = existsSync(awsBin) ? undefined : `${awsBin} is missing (apt-get install awscli)`;
if (missing && process.env.CI === 'true') throw new Error(missing);

describe('the AWS CLI v2 against Coffer', { skip: missing ?? false }, () => {
  let node: TestNode;
  let dir: string;
  let key: { accessKeyId: string; secretAccessKey: string };

  async function aws(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(
      awsBin,
      [...args, '--endpoint-url', node.url, '--region', 'us-east-1', '--output', 'json'],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: dir,
          AWS_CONFIG_FILE: join(dir, 'config'),
          AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
          AWS_ACCESS_KEY_ID: key.accessKeyId,
          AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
          AWS_PAGER: '',
          AWS_MAX_ATTEMPTS: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, stdout, stderr };
  }

  async function json(...args: string[]) {
    const out = await aws(...args);
    assert.equal(out.code, 0, `aws ${args.join(' ')}: ${out.stderr}`);
    return out.stdout.trim() === '' ? {} : JSON.parse(out.stdout);
  }

  before(async () => {
    node = await startTestNode({ env: { COFFER_AWS_REGIONS: 'auto' } });
    dir = mkdtempSync(join(tmpdir(), 'coffer-aws-cli-'));
    writeFileSync(join(dir, 'config'), '');
    writeFileSync(join(dir, 'credentials'), '');
    const admin = new CofferClient({ address: node.url, token: node.adminToken });
    const projectId = (await admin.projects.create({ displayName: 'aws-cli' })).id;
    const account = await admin.iam.createServiceAccount({ projectId }, { name: 'cli-robot' });
    for (const role of [
      'roles/secretsmanager.admin',
      'roles/kms.admin',
      'roles/kms.cryptoKeyEncrypterDecrypter',
    ])
      await admin.iam.addBinding({ projectId }, { role, member: `serviceAccount:${account.email}` });
    // Minted with Coffer's own CLI: the secret is printed once.
    const created = await runCoffer(
      ['service-accounts', 'access-keys', 'create', account.email, '--format', 'json'],
      {
        COFFER_ADDR: node.url,
        COFFER_TOKEN: node.adminToken!,
        COFFER_PROJECT: projectId,
        COFFER_CONFIG_DIR: dir,
      },
    );
    assert.equal(created.code, 0, created.stderr);
    key = JSON.parse(created.stdout);
    assert.match(key.accessKeyId, /^AKIA/);
  });

  after(async () => {
    await node?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('secrets: create, get, put, list, delete', async () => {
    const created = await json(
      'secretsmanager',
      'create-secret',
      '--name',
      'cli/db',
      '--secret-string',
      'v1',
    );
    assert.match(created.ARN, /^arn:aws:secretsmanager:us-east-1:\d{12}:secret:cli\/db-/);
    assert.equal(
      (await json('secretsmanager', 'get-secret-value', '--secret-id', 'cli/db')).SecretString,
      'v1',
    );
    await json('secretsmanager', 'put-secret-value', '--secret-id', 'cli/db', '--secret-string', 'v2');
    assert.equal(
      (await json('secretsmanager', 'get-secret-value', '--secret-id', 'cli/db')).SecretString,
      'v2',
    );
    const listed = await json('secretsmanager', 'list-secrets');
    assert.ok(listed.SecretList.some((s: { Name: string }) => s.Name === 'cli/db'));
    await json('secretsmanager', 'delete-secret', '--secret-id', 'cli/db', '--force-delete-without-recovery');
    const gone = await aws('secretsmanager', 'get-secret-value', '--secret-id', 'cli/db');
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /ResourceNotFoundException/);
  });

  test('kms: encrypt and decrypt with an encryption context, data keys, aliases', async () => {
    const keyId = (await json('kms', 'create-key', '--description', 'cli')).KeyMetadata.KeyId as string;
    writeFileSync(join(dir, 'plain'), 'hello from the aws cli');
    const encrypted = await json(
      'kms',
      'encrypt',
      '--key-id',
      keyId,
      '--plaintext',
      `fileb://${join(dir, 'plain')}`,
      '--encryption-context',
      'purpose=test',
    );
    writeFileSync(join(dir, 'blob'), Buffer.from(encrypted.CiphertextBlob, 'base64'));
    const decrypted = await json(
      'kms',
      'decrypt',
      '--ciphertext-blob',
      `fileb://${join(dir, 'blob')}`,
      '--encryption-context',
      'purpose=test',
    );
    assert.equal(Buffer.from(decrypted.Plaintext, 'base64').toString(), 'hello from the aws cli');
    assert.equal(decrypted.KeyId.endsWith(keyId), true);
    const wrongContext = await aws(
      'kms',
      'decrypt',
      '--ciphertext-blob',
      `fileb://${join(dir, 'blob')}`,
      '--encryption-context',
      'purpose=other',
    );
    assert.notEqual(wrongContext.code, 0);
    assert.match(wrongContext.stderr, /InvalidCiphertextException/);
    const dataKey = await json('kms', 'generate-data-key', '--key-id', keyId, '--key-spec', 'AES_256');
    assert.equal(Buffer.from(dataKey.Plaintext, 'base64').length, 32);
    assert.ok(dataKey.CiphertextBlob);
    await json('kms', 'create-alias', '--alias-name', 'alias/cli-key', '--target-key-id', keyId);
    const aliases = await json('kms', 'list-aliases');
    assert.ok(
      aliases.Aliases.some(
        (a: { AliasName: string; TargetKeyId?: string }) =>
          a.AliasName === 'alias/cli-key' && a.TargetKeyId === keyId,
      ),
    );
  });
});
