import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cofferBin } from './support/cli-process.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

/** Runs `coffer ARGS` until its output is closed; stdout kept as bytes too. */
async function runCoffer(args: string[], env: Record<string, string>, input?: string | Buffer) {
  const child = spawn(process.execPath, [cofferBin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => undefined);
  child.stdin.end(input);
  const [code] = (await once(child, 'close')) as [number | null];
  const bytes = Buffer.concat(out);
  return { code, stdout: bytes.toString('utf8'), bytes, stderr };
}

// Commands that do not depend on each other run at once: each is a process of its own.
describe('coffer projects, regions and kms', () => {
  let node: TestNode;
  let dir: string;
  let env: Record<string, string>;
  const ok = async (args: string[], input?: string | Buffer) => {
    const result = await runCoffer(args, env, input);
    assert.equal(result.code, 0, `coffer ${args.join(' ')}: ${result.stderr}`);
    return result;
  };
  const json = async <T>(args: string[], input?: string | Buffer): Promise<T> =>
    JSON.parse((await ok([...args, '--format=json'], input)).stdout) as T;
  const ring = '--keyring=app-ring';

  before(async () => {
    node = await startTestNode();
    dir = mkdtempSync(join(tmpdir(), 'coffer-cli-kms-'));
    env = {
      COFFER_ADDR: node.url,
      COFFER_TOKEN: node.adminToken!,
      COFFER_PROJECT: '',
      COFFER_REGION: '',
      COFFER_INSTANCE: '',
      COFFER_CONFIG_DIR: join(dir, 'config'),
    };
  });
  after(async () => {
    await node?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('projects create, list and describe; regions list; a project is then named by display name', async () => {
    const project = await json<{ id: string; displayName: string }>(['projects', 'create', 'payments']);
    assert.equal(project.displayName, 'payments');
    const [list, described, regions] = await Promise.all([
      ok(['projects', 'list']),
      json<{ id: string }>(['projects', 'describe', 'payments']),
      json<unknown>(['regions', 'list']),
    ]);
    assert.match(list.stdout, new RegExp(`${project.id}\\s+payments\\s+secrets,kms`));
    assert.equal(described.id, project.id);
    assert.deepEqual(regions, [{ id: 'local', kms: true }]);
    env.COFFER_PROJECT = 'payments';
  });

  test('key rings and keys: create, list, encrypt and decrypt bytes, sign and verify', async () => {
    await ok(['kms', 'keyrings', 'create', 'app-ring']);
    const [rings, key] = await Promise.all([
      ok(['kms', 'keyrings', 'list']),
      json<{ slug: string; algorithm: string }>([
        'kms',
        'keys',
        'create',
        'data-key',
        ring,
        '--algorithm=aes256-gcm96',
      ]),
      ok(['kms', 'keys', 'create', 'signer', ring, '--algorithm=ed25519']),
    ]);
    assert.match(rings.stdout, /app-ring/);
    assert.deepEqual([key.slug, key.algorithm], ['data-key', 'aes256-gcm96']);

    const plaintext = Buffer.from([0, 1, 2, 250, 251, 252]);
    const [listed, encrypted, signed] = await Promise.all([
      ok(['kms', 'keys', 'list', ring]),
      ok(['kms', 'keys', 'encrypt', 'data-key', ring, '--plaintext-file=-'], plaintext),
      ok(['kms', 'keys', 'sign', 'signer', ring, '--data-file=-'], 'release-1.0'),
    ]);
    assert.match(listed.stdout, /data-key\s+aes256-gcm96\s+encrypt_decrypt\s+active\s+1/);
    const ciphertextFile = join(dir, 'ciphertext.b64');
    writeFileSync(ciphertextFile, encrypted.stdout);
    const signature = signed.stdout.trim();
    const [decrypted, valid, forged] = await Promise.all([
      ok(['kms', 'keys', 'decrypt', 'data-key', ring, `--ciphertext-file=${ciphertextFile}`]),
      ok(
        ['kms', 'keys', 'verify', 'signer', ring, '--data-file=-', `--signature=${signature}`],
        'release-1.0',
      ),
      runCoffer(
        ['kms', 'keys', 'verify', 'signer', ring, '--data-file=-', `--signature=${signature}`],
        env,
        'release-1.1',
      ),
    ]);
    assert.ok(decrypted.bytes.equals(plaintext));
    assert.equal(valid.stdout.trim(), 'valid');
    assert.equal(forged.code, 1);
    assert.equal(forged.stdout.trim(), 'INVALID');
  });

  test('rotate, key versions, and a disabled version refusing to decrypt', async () => {
    const ciphertext = (
      await ok(['kms', 'keys', 'encrypt', 'data-key', ring, '--plaintext-file=-'], 'v1 data')
    ).stdout.trim();
    assert.equal(
      (await json<{ primaryVersion: number }>(['kms', 'keys', 'rotate', 'data-key', ring])).primaryVersion,
      2,
    );
    const [versions] = await Promise.all([
      json<Array<{ version: number; state: string }>>(['kms', 'versions', 'list', '--key=data-key', ring]),
      ok(['kms', 'versions', 'disable', '1', '--key=data-key', ring]),
    ]);
    assert.deepEqual(
      versions.map((v) => v.version),
      [1, 2],
    );
    const [described, refused] = await Promise.all([
      json<{ state: string }>(['kms', 'versions', 'describe', '1', '--key=data-key', ring]),
      runCoffer(['kms', 'keys', 'decrypt', 'data-key', ring, `--ciphertext=${ciphertext}`], env),
    ]);
    assert.equal(described.state, 'disabled');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /key_not_active, HTTP 400/);
    await ok(['kms', 'versions', 'enable', '1', '--key=data-key', ring]);
    assert.equal(
      (await ok(['kms', 'keys', 'decrypt', 'data-key', ring, `--ciphertext=${ciphertext}`])).stdout,
      'v1 data',
    );
  });

  test('a key a secret depends on is disabled only with --force; deletion is scheduled and cancelled', async () => {
    await Promise.all([
      ok(['kms', 'keys', 'create', 'bound-key', ring, '--algorithm=aes256-gcm96']),
      ok(['instances', 'create', 'main']),
    ]);
    await ok(['secrets', 'create', 'bound', '--kms-key=bound-key', '--data-file=-'], 'v');
    const guarded = await runCoffer(['kms', 'keys', 'disable', 'bound-key', ring], env);
    assert.equal(guarded.code, 1);
    assert.equal(
      guarded.stderr,
      'coffer: 1 secrets or instances depend on key bound-key; add --force to disable it anyway\n',
    );
    const [disabled, scheduled] = await Promise.all([
      json<{ state: string }>(['kms', 'keys', 'disable', 'bound-key', ring, '--force']),
      json<{ state: string }>([
        'kms',
        'keys',
        'schedule-deletion',
        'signer',
        ring,
        '--pending-window-days=7',
      ]),
    ]);
    assert.equal(disabled.state, 'disabled');
    assert.equal(scheduled.state, 'pending_deletion');
    const [refused, cancelled] = await Promise.all([
      runCoffer(['secrets', 'versions', 'access', 'latest', '--secret=bound'], env),
      json<{ state: string }>(['kms', 'keys', 'cancel-deletion', 'signer', ring]),
    ]);
    assert.match(refused.stderr, /key_not_active/);
    assert.equal(cancelled.state, 'disabled');
    await ok(['kms', 'keys', 'enable', 'bound-key', ring]);
    assert.equal(
      (await json<{ slug: string; state: string }>(['kms', 'keys', 'describe', 'bound-key', ring])).state,
      'active',
    );
  });
});
