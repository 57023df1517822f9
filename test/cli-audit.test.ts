import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { timeOrAgo } from '../src/cli/audit-commands.ts';
import { type AuditEventView, CofferClient, type SecretRef } from '../src/sdk/index.ts';
import { cofferBin } from './support/cli-process.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

/** Runs `coffer ARGS` until its output is closed. */
async function runCoffer(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [cofferBin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

describe('coffer audit list, export and verify', () => {
  let node: TestNode;
  let dir: string;
  let env: Record<string, string>;
  let admin: CofferClient;
  let projectId: string;
  let secret: SecretRef;

  before(async () => {
    node = await startTestNode();
    dir = mkdtempSync(join(tmpdir(), 'coffer-cli-audit-'));
    admin = new CofferClient({ address: node.url, token: node.adminToken });
    projectId = (await admin.projects.create({ displayName: 'cli-audit' })).id;
    const instance = await admin.secrets.createInstance({ projectId, regionId: 'local' }, { name: 'main' });
    secret = { projectId, regionId: 'local', instanceId: instance.id, secret: 'app/db' };
    await admin.secrets.createSecret(secret, { path: 'app/db', value: 'v' });
    await admin.secrets.createSecret(secret, { path: 'app/db/replica', value: 'r' });
    for (let i = 0; i < 3; i++) await admin.secrets.getSecretValue(secret, {}, { requestId: `read-${i}` });
    await admin.secrets.getSecretValue({ ...secret, secret: 'app/db/replica' });
    env = {
      COFFER_ADDR: node.url,
      COFFER_TOKEN: node.adminToken!,
      COFFER_PROJECT: projectId,
      COFFER_REGION: '',
      COFFER_INSTANCE: instance.id,
      COFFER_CONFIG_DIR: join(dir, 'config'),
    };
  });
  after(async () => {
    await node?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('audit list shows who read a secret, newest first, as a table or JSON', async () => {
    const [table, json] = await Promise.all([
      runCoffer(['audit', 'list', '--action=secrets.get_value', '--secret=app/db'], env),
      runCoffer(
        ['audit', 'list', '--action', 'secrets.get_value', '--secret', 'app/db', '--format', 'json'],
        env,
      ),
    ]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^TIME\s+ACTION\s+RESULT\s+STATUS\s+PRINCIPAL\s+RESOURCE\n/);
    assert.equal(table.stdout.trim().split('\n').length, 4);
    const events = JSON.parse(json.stdout) as AuditEventView[];
    // --secret is the exact secret: app/db/replica (whose name shares the prefix) is not included.
    assert.deepEqual(
      events.map((e) => [e.requestId, e.principal, e.result]),
      [
        ['read-2', 'user:admin@coffer.internal', 'ok'],
        ['read-1', 'user:admin@coffer.internal', 'ok'],
        ['read-0', 'user:admin@coffer.internal', 'ok'],
      ],
    );
    assert.ok(events.every((e) => e.resource.endsWith('/secrets/app%2Fdb')));
    const limited = await runCoffer(['audit', 'list', '--limit=2', '--format=json'], env);
    assert.equal((JSON.parse(limited.stdout) as unknown[]).length, 2);
  });

  test('audit export writes every event as one JSON line, paging through the list', async () => {
    const expected: string[] = [];
    for await (const event of admin.audit.listAllEvents({ projectId })) expected.push(event.id);
    const exported = await runCoffer(['audit', 'export', '--page-size=3'], env);
    assert.equal(exported.code, 0, exported.stderr);
    const lines = exported.stdout.trimEnd().split('\n');
    const events = lines.map((line) => JSON.parse(line) as AuditEventView);
    // The export itself adds events after the listing above started; those are newer, so first.
    const ids = events.map((e) => e.id);
    assert.deepEqual(ids.slice(ids.length - expected.length), expected);
    assert.ok(expected.length > 6, 'more than two pages');
    const filtered = await runCoffer(['audit', 'export', '--action=secrets.get_value', '--since=1h'], env);
    assert.equal(filtered.stdout.trimEnd().split('\n').length, 4);
  });

  test('system events (logins, init) are read with --system', async () => {
    await admin.iam.createUser({ email: 'audited@example.com', password: 'a long enough password' });
    await new CofferClient({ address: node.url }).iam
      .login({ email: 'audited@example.com', password: 'wrong' })
      .catch(() => undefined);
    // A refused login is counted into the minute's auth.unauthenticated system event.
    await node.app.unauthenticatedAudit.flush();
    const result = await runCoffer(['audit', 'list', '--system', '--result=denied', '--format=json'], env);
    assert.equal(result.code, 0, result.stderr);
    const denied = JSON.parse(result.stdout) as AuditEventView[];
    assert.ok(
      denied.some((e) => e.action === 'auth.unauthenticated'),
      result.stdout,
    );
  });

  test('audit verify exits 0 on an intact log and 1 once an event is edited in storage', async () => {
    const intact = await runCoffer(['audit', 'verify'], env);
    assert.equal(intact.code, 0, intact.stderr);
    assert.match(
      intact.stdout,
      /The audit log is intact: \d+ events in \d+ chains verified( \(\d+ after the last signed checkpoint\))?\./,
    );
    const json = await runCoffer(['audit', 'verify', '--format=json'], env);
    assert.equal(JSON.parse(json.stdout).valid, true);

    const victim = (await admin.audit.listEvents({ projectId }, { action: 'secrets.get_value', pageSize: 1 }))
      .items[0]!;
    const db = new DatabaseSync(join(node.dataDir, 'coffer.db'));
    db.exec(
      `PRAGMA busy_timeout = 5000; UPDATE audit_events SET principal = 'user:mallory@evil.example' WHERE id = '${victim.id}'`,
    );
    db.close();
    const broken = await runCoffer(['audit', 'verify'], env);
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /NOT intact/);
  });

  test('--since and --until take RFC 3339 times or durations ago', () => {
    const now = Date.parse('2030-01-01T12:00:00Z');
    assert.equal(timeOrAgo('15m', '--since', now), '2030-01-01T11:45:00.000Z');
    assert.equal(timeOrAgo('2d', '--since', now), '2029-12-30T12:00:00.000Z');
    assert.equal(timeOrAgo('2030-01-01T00:00:00+01:00', '--since', now), '2029-12-31T23:00:00.000Z');
    assert.throws(() => timeOrAgo('yesterday', '--since', now), /RFC 3339/);
  });
});
