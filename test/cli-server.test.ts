import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCoffer, startServerProcess } from './support/cli-process.ts';
import { call } from './support/test-node.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-cli-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('coffer server as a process', () => {
  test('an invalid configuration exits 2 with one line naming the field, never a stack trace', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ COFFER_SEAL: 'hsm' }, /seal/],
      [{ COFFER_LISTEN: 'nowhere' }, /listen/],
      [{ COFFER_LISTEN: '0.0.0.0:8270' }, /listen.*insecure-plaintext/],
      [{ COFFER_CONFIG: '/nonexistent.yaml' }, /config/],
    ];
    for (const [env, pattern] of cases) {
      const result = await runCoffer(['server'], { COFFER_DATA_DIR: tempDir(), ...env });
      assert.equal(result.code, 2, JSON.stringify(env));
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, pattern);
      assert.doesNotMatch(result.stderr, /\bat .*\.ts:\d+/);
    }
  });

  test('a database that cannot be reached at start exits 1 with a clear message and no password', async () => {
    const result = await runCoffer(['server'], {
      COFFER_DATA_DIR: tempDir(),
      COFFER_DATABASE_URL: 'postgres://coffer:hunter2@127.0.0.1:1/coffer',
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /127\.0\.0\.1:1/);
    assert.doesNotMatch(result.stderr, /hunter2/);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  });

  test('starts on the embedded default, refuses a second server on the same data dir, stops on SIGTERM', async () => {
    const dataDir = tempDir();
    const server = await startServerProcess({ COFFER_DATA_DIR: dataDir });
    const health = await call(server.url, 'GET', '/v2/health');
    assert.equal(health.body.status, 'ok');
    const second = await runCoffer(['server'], { COFFER_DATA_DIR: dataDir, COFFER_LISTEN: '127.0.0.1:0' });
    assert.equal(second.code, 1);
    assert.match(second.stderr, /another Coffer server/);
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
    assert.match(server.output(), /shutting down/);
  });

  test('after SIGKILL during writes, a restart finds every acknowledged write', async () => {
    const dataDir = tempDir();
    const server = await startServerProcess({ COFFER_DATA_DIR: dataDir });
    const { readFileSync } = await import('node:fs');
    const token = readFileSync(join(dataDir, 'root-token'), 'utf8').trim();
    const acknowledged: string[] = [];
    let stop = false;
    const writers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        try {
          const res = await call(server.url, 'POST', '/v2/projects', {
            token,
            body: { displayName: 'crash' },
          });
          if (res.status === 201) acknowledged.push(res.body.id);
        } catch {
          return; // the server died mid-request: that write was never acknowledged
        }
      }
    });
    while (acknowledged.length < 50) await new Promise((resolve) => setTimeout(resolve, 10));
    server.child.kill('SIGKILL');
    stop = true;
    await Promise.all(writers);
    await server.exited;
    const restarted = await startServerProcess({ COFFER_DATA_DIR: dataDir });
    try {
      const listed = await call(restarted.url, 'GET', '/v2/projects?pageSize=1000', { token });
      const present = new Set(listed.body.items.map((p: { id: string }) => p.id));
      for (const id of acknowledged) assert.ok(present.has(id), `acknowledged project ${id} is missing`);
    } finally {
      restarted.child.kill('SIGTERM');
      await restarted.exited;
    }
  });
});
