import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CofferClient } from '../src/sdk/index.ts';
import { runCoffer } from './support/cli-process.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

describe('coffer service-accounts keys', () => {
  let node: TestNode;
  let dir: string;
  let projectId: string;
  const env = (auth: Record<string, string>) => ({
    COFFER_ADDR: node.url,
    COFFER_TOKEN: '',
    COFFER_KEY_FILE: '',
    COFFER_PROJECT: projectId,
    COFFER_CONFIG_DIR: dir,
    ...auth,
  });
  before(async () => {
    node = await startTestNode();
    dir = mkdtempSync(join(tmpdir(), 'coffer-cli-keys-'));
    const admin = new CofferClient({ address: node.url, token: node.adminToken });
    projectId = (await admin.projects.create({ displayName: 'cli-keys' })).id;
    const account = await admin.iam.createServiceAccount({ projectId }, { name: 'robot-cli' });
    await admin.iam.addBinding(
      { projectId },
      { role: 'roles/iam.admin', member: `serviceAccount:${account.email}` },
    );
  });
  after(async () => {
    await node?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('keys create writes a 0600 key file and never prints the private key; --key-file authenticates with it', async () => {
    const admin = env({ COFFER_TOKEN: node.adminToken! });
    const out = join(dir, 'robot.json');
    const created = await runCoffer(
      ['service-accounts', 'keys', 'create', 'robot-cli', '--out', out, '--algorithm', 'EdDSA'],
      admin,
    );
    assert.equal(created.code, 0, created.stderr);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const file = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(file.type, 'service_account');
    assert.match(created.stdout, new RegExp(`Created key \\[${file.privateKeyId}\\]`));
    assert.ok(!`${created.stdout}${created.stderr}`.includes('PRIVATE KEY'));

    const again = await runCoffer(['service-accounts', 'keys', 'create', 'robot-cli', '--out', out], admin);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists/);

    // The key's own account lists its keys (roles/iam.admin), authenticated by the key file alone.
    const listed = await runCoffer(
      ['service-accounts', 'keys', 'list', 'robot-cli', '--format=json', '--key-file', out],
      env({}),
    );
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      JSON.parse(listed.stdout).map((k: { keyId: string }) => k.keyId),
      [file.privateKeyId],
    );

    const disabled = await runCoffer(
      ['service-accounts', 'keys', 'disable', 'robot-cli', file.privateKeyId],
      admin,
    );
    assert.equal(disabled.code, 0, disabled.stderr);
    const refused = await runCoffer(['service-accounts', 'list'], env({ COFFER_KEY_FILE: out }));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /assertion is invalid/);

    const printed = await runCoffer(['service-accounts', 'keys', 'create', 'robot-cli', '--out', '-'], admin);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(JSON.parse(printed.stdout).privateKey, /BEGIN PRIVATE KEY/);

    writeFileSync(join(dir, 'bad.json'), '{"type":"service_account"}');
    const bad = await runCoffer(['service-accounts', 'list', '--key-file', join(dir, 'bad.json')], env({}));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /projectId/);
  });
});
