import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { CofferClient } from '../src/sdk/index.ts';
import { cofferBin } from './support/cli-process.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

/**
 * Runs `coffer ARGS` to completion and keeps stdout as bytes. It waits for `close` (every output
 * read), not `exit`, which can come before the last of stdout under load.
 */
async function runRaw(
  args: string[],
  env: Record<string, string>,
  input?: string | Buffer,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
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
  return { code, stdout: Buffer.concat(out), stderr };
}

/** runRaw with stdout as text. */
async function runCoffer(args: string[], env: Record<string, string>, input?: string | Buffer) {
  const result = await runRaw(args, env, input);
  return { ...result, stdout: result.stdout.toString('utf8') };
}

describe('coffer secrets as a process against a node', { concurrency: true }, () => {
  let node: TestNode;
  let dir: string;
  let env: Record<string, string>;
  let projectId: string;
  let instanceId: string;
  const coffer = (args: string[], input?: string | Buffer, extra: Record<string, string> = {}) =>
    runCoffer(args, { ...env, ...extra }, input);
  const ok = async (args: string[], input?: string | Buffer) => {
    const result = await coffer(args, input);
    assert.equal(result.code, 0, `coffer ${args.join(' ')}: ${result.stderr}`);
    return result;
  };

  before(async () => {
    node = await startTestNode();
    dir = mkdtempSync(join(tmpdir(), 'coffer-cli-secrets-'));
    const admin = new CofferClient({ address: node.url, token: node.adminToken });
    const project = await admin.projects.create({ displayName: 'cli-secrets' });
    projectId = project.id;
    instanceId = (await admin.secrets.createInstance({ projectId, regionId: 'local' }, { name: 'main' })).id;
    env = {
      COFFER_ADDR: node.url,
      COFFER_TOKEN: node.adminToken!,
      COFFER_PROJECT: projectId,
      COFFER_REGION: '',
      COFFER_INSTANCE: instanceId,
      COFFER_CONFIG_DIR: join(dir, 'config'),
    };
  });
  after(async () => {
    await node?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('create from stdin, add from a file, access latest and by stage: the exact bytes come back', async () => {
    const created = await ok(
      ['secrets', 'create', 'prod/db/password', '--data-file=-', '--labels=env=prod,team=core'],
      'hunter2\n',
    );
    assert.match(created.stdout, /Created secret \[prod\/db\/password\] with version \[1\]/);
    const file = join(dir, 'v2.txt');
    writeFileSync(file, 'second value');
    assert.match(
      (await ok(['secrets', 'versions', 'add', 'prod/db/password', `--data-file=${file}`])).stdout,
      /version \[2\]/,
    );
    const [latest, byNumber, previous] = await Promise.all([
      ok(['secrets', 'versions', 'access', 'latest', '--secret=prod/db/password']),
      ok(['secrets', 'versions', 'access', '1', '--secret', 'prod/db/password']),
      ok(['secrets', 'versions', 'access', '--secret=prod/db/password', '--stage=previous']),
    ]);
    assert.equal(latest.stdout, 'second value');
    assert.equal(byNumber.stdout, 'hunter2\n');
    assert.equal(previous.stdout, 'hunter2\n');
  });

  test('binary data on stdin round-trips byte for byte through access', async () => {
    const bytes = Buffer.concat([Buffer.from([0, 0xff, 0xfe, 0x80, 0x0a, 0x0d]), randomBytes(4096)]);
    const created = await runRaw(['secrets', 'create', 'binary/blob', '--data-file=-'], env, bytes);
    assert.equal(created.code, 0, created.stderr);
    const read = await runRaw(['secrets', 'versions', 'access', 'latest', '--secret=binary/blob'], env);
    assert.equal(read.code, 0, read.stderr);
    assert.ok(read.stdout.equals(bytes), 'the bytes differ');

    const utf8 = Buffer.from('\ufeffünïcødé 🔑\r\n', 'utf8');
    await runRaw(['secrets', 'versions', 'add', 'binary/blob', '--data-file=-'], env, utf8);
    const text = await runRaw(['secrets', 'versions', 'access', 'latest', '--secret=binary/blob'], env);
    assert.ok(text.stdout.equals(utf8), 'UTF-8 with a BOM and CRLF must come back unchanged');
  });

  test('list, describe, versions and stages print a table, JSON or YAML', async () => {
    await ok(['secrets', 'create', 'fmt/one', '--data-file=-'], 'a');
    await ok(['secrets', 'versions', 'add', 'fmt/one', '--data-file=-'], 'b');
    const [table, json, yaml, describe, versions, stages] = await Promise.all([
      ok(['secrets', 'list', '--prefix', 'fmt/']),
      ok(['secrets', 'list', '--prefix', 'fmt/', '--format', 'json']),
      ok(['secrets', 'list', '--prefix=fmt/', '--format=yaml']),
      ok(['secrets', 'describe', 'fmt/one', '--format', 'json']),
      ok(['secrets', 'versions', 'list', 'fmt/one', '--format', 'json']),
      ok(['secrets', 'stages', 'list', 'fmt/one']),
    ]);
    assert.match(table.stdout, /^PATH\s+LATEST\s+KMS KEY/);
    assert.match(table.stdout, /\nfmt\/one\s+2\s+\(root key\)/);
    const listed = JSON.parse(json.stdout) as Array<{ path: string; latestVersion: number }>;
    assert.deepEqual(
      listed.map((s) => [s.path, s.latestVersion]),
      [['fmt/one', 2]],
    );
    assert.deepEqual(parseYaml(yaml.stdout), listed);
    const described = JSON.parse(describe.stdout) as { name: string; kmsKey: { identity: null } };
    assert.equal(
      described.name,
      `projects/${projectId}/regions/local/instances/${instanceId}/secrets/fmt%2Fone`,
    );
    assert.deepEqual(
      (JSON.parse(versions.stdout) as Array<{ version: number; stages: string[] }>).map((v) => [
        v.version,
        v.stages,
      ]),
      [
        [2, ['current']],
        [1, ['previous']],
      ],
    );
    assert.match(stages.stdout, /current\s+2\n/);
    assert.match(stages.stdout, /previous\s+1/);
  });

  test('update, stages move, disable, delete with a recovery window and restore', async () => {
    await ok(['secrets', 'create', 'life', '--data-file=-'], 'v1');
    await ok(['secrets', 'versions', 'add', 'life', '--data-file=-'], 'v2');
    const updated = await ok(['secrets', 'update', 'life', '--labels=tier=gold', '--format=json']);
    assert.deepEqual(JSON.parse(updated.stdout).labels, { tier: 'gold' });
    await ok(['secrets', 'stages', 'move', 'pending', '--secret=life', '--to-version=1']);
    assert.equal(
      (await ok(['secrets', 'versions', 'access', '--secret=life', '--stage=pending'])).stdout,
      'v1',
    );
    await ok(['secrets', 'versions', 'disable', '2', '--secret=life']);
    assert.equal((await ok(['secrets', 'versions', 'access', 'latest', '--secret=life'])).stdout, 'v1');
    await ok(['secrets', 'versions', 'enable', '2', '--secret=life']);
    const deleted = await ok(['secrets', 'delete', 'life', '--recovery-window-days=3']);
    assert.match(deleted.stdout, /restorable until/);
    const refused = await coffer(['secrets', 'versions', 'access', 'latest', '--secret=life']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /failed_precondition, HTTP 400/);
    await ok(['secrets', 'restore', 'life']);
    assert.equal((await ok(['secrets', 'versions', 'access', 'latest', '--secret=life'])).stdout, 'v2');
    await ok(['secrets', 'versions', 'destroy', '1', '--secret=life']);
    const destroyed = JSON.parse(
      (await ok(['secrets', 'versions', 'describe', '1', '--secret=life', '--format=json'])).stdout,
    );
    assert.equal(destroyed.state, 'destroyed');
    assert.match((await ok(['secrets', 'delete', 'life', '--recovery-window-days=0'])).stdout, /Purged/);
  });

  test('a value over 64 KiB is refused by the server with 413, shown in one line', async () => {
    const result = await coffer(['secrets', 'create', 'too/big', '--data-file=-'], Buffer.alloc(65537, 'a'));
    assert.equal(result.code, 1);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /payload_too_large, HTTP 413/);
    assert.equal(result.stdout, '');
    const exactly = await coffer(
      ['secrets', 'create', 'just/fits', '--data-file=-'],
      Buffer.alloc(65536, 'a'),
    );
    assert.equal(exactly.code, 0, exactly.stderr);
  });

  test('a service account bound with add-iam-policy-binding reads that secret and no other', async () => {
    await ok(['secrets', 'create', 'app/config', '--data-file=-'], '{"debug":false}');
    await ok(['secrets', 'create', 'app/other', '--data-file=-'], 'nope');
    const account = JSON.parse(
      (await ok(['service-accounts', 'create', 'cli-reader', '--format=json'])).stdout,
    ) as {
      email: string;
    };
    const member = `serviceAccount:${account.email}`;
    const bound = await ok([
      'secrets',
      'add-iam-policy-binding',
      'app/config',
      `--member=${member}`,
      '--role=roles/secretsmanager.secretAccessor',
    ]);
    assert.match(bound.stdout, /roles\/secretsmanager\.secretAccessor\s+serviceAccount:cli-reader@/);
    const policy = JSON.parse(
      (await ok(['secrets', 'get-iam-policy', 'app/config', '--format=json'])).stdout,
    );
    assert.deepEqual(policy.bindings, [{ role: 'roles/secretsmanager.secretAccessor', members: [member] }]);

    const token = (
      await ok(['service-accounts', 'tokens', 'create', account.email, '--ttl=600s'])
    ).stdout.trim();
    assert.match(token, /^cfr_/);
    // The account may read the value but not list projects or instances: ids, not names.
    const asApp = { COFFER_TOKEN: token };
    const read = await coffer(
      ['secrets', 'versions', 'access', 'latest', '--secret=app/config'],
      undefined,
      asApp,
    );
    assert.equal(read.code, 0, read.stderr);
    assert.equal(read.stdout, '{"debug":false}');
    const denied = await coffer(
      ['secrets', 'versions', 'access', 'latest', '--secret=app/other'],
      undefined,
      asApp,
    );
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /permission_denied, HTTP 403/);

    await ok([
      'secrets',
      'remove-iam-policy-binding',
      'app/config',
      `--member=${member}`,
      '--role=roles/secretsmanager.secretAccessor',
    ]);
    const revoked = await coffer(
      ['secrets', 'versions', 'access', 'latest', '--secret=app/config'],
      undefined,
      asApp,
    );
    assert.equal(revoked.code, 1);
  });

  test('the instance is found by name, or is the only one; several need --instance', async () => {
    const noInstance = { COFFER_INSTANCE: '' };
    const created = await coffer(['secrets', 'create', 'by-name', '--data-file=-'], 'x', noInstance);
    assert.equal(created.code, 0, created.stderr);
    await ok(['instances', 'create', 'second']);
    const ambiguous = await coffer(['secrets', 'list'], undefined, noInstance);
    assert.equal(ambiguous.code, 1);
    assert.match(ambiguous.stderr, /several instances here \((main, second|second, main)\): pass --instance/);
    const named = await coffer(['secrets', 'list', '--instance', 'main'], undefined, noInstance);
    assert.match(named.stdout, /by-name/);
    await ok(['instances', 'delete', 'second']);
  });
});
