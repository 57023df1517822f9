import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CofferClient } from '../src/sdk/index.ts';
import { runCoffer } from './support/cli-process.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

describe('coffer users and root-token', () => {
  let node: TestNode;
  let configDir: string;
  const env = (token: string) => ({
    COFFER_ADDR: node.url,
    COFFER_TOKEN: token,
    COFFER_PROJECT: '',
    COFFER_CONFIG_DIR: configDir,
  });
  before(async () => {
    node = await startTestNode();
    configDir = mkdtempSync(join(tmpdir(), 'coffer-cli-users-'));
  });
  after(async () => {
    await node?.destroy();
    rmSync(configDir, { recursive: true, force: true });
  });

  test('sessions list/revoke, disable; root-token rotate prints the new token once', async () => {
    const email = 'cli-user@example.com';
    const password = 'correct horse battery';
    const admin = new CofferClient({ address: node.url, token: node.adminToken });
    await admin.iam.createUser({ email, password });
    const session = await new CofferClient({ address: node.url }).iam.login({ email, password });
    const listed = await runCoffer(
      ['users', 'sessions', 'list', email, '--format=json'],
      env(node.adminToken!),
    );
    assert.equal(listed.code, 0, listed.stderr);
    const items = JSON.parse(listed.stdout) as Array<{ id: string }>;
    assert.equal(items.length, 1);
    assert.ok(!listed.stdout.includes(session.token));
    const revoked = await runCoffer(
      ['users', 'sessions', 'revoke', email, items[0]!.id],
      env(node.adminToken!),
    );
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await admin.iam.listUserTokens(email)).items.length, 0);
    const disabled = await runCoffer(['users', 'disable', email], env(node.adminToken!));
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.match(disabled.stdout, /is disabled/);
    const rotated = await runCoffer(['root-token', 'rotate'], env(node.adminToken!));
    assert.equal(rotated.code, 0, rotated.stderr);
    const token = rotated.stdout.trim();
    assert.match(token, /^cfr_/);
    const old = await runCoffer(['users', 'enable', email], env(node.adminToken!));
    assert.notEqual(old.code, 0, 'the old root token no longer works');
    const enabled = await runCoffer(['users', 'enable', email], env(token));
    assert.equal(enabled.code, 0, enabled.stderr);
  });
});
