import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isCofferError } from '../core/errors.ts';
import { acquireDataDirLock } from './data-dir-lock.ts';

const holderScript = new URL('../../test/support/data-dir-lock-holder.ts', import.meta.url).pathname;
/** Each child in a new pid namespace, as each container's server is pid 1 (util-linux, root). */
const otherContainer = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];
const unshareMissing =
  spawnSync(otherContainer[0]!, [...otherContainer.slice(1), 'true']).status === 0
    ? false
    : 'unshare cannot make a pid namespace here (needs util-linux and root); CI runs this test';

const dirs: string[] = [];
const children: ChildProcess[] = [];
function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-lock-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A holder process; `outcome` resolves with `held`, or with the refusal it printed. */
function startHolder(dataDir: string, prefix: string[] = []) {
  const [command, ...args] = [...prefix, process.execPath, holderScript, dataDir];
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  const outcome = new Promise<string>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (stdout.startsWith('held\n')) resolve('held');
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('exit', () => resolve(stderr.trim()));
  });
  return { child, outcome };
}

describe('data dir lock', () => {
  test('a second process on the data dir is refused with the holder’s pid; after its kill -9 the next start succeeds', async () => {
    const dataDir = tempDataDir();
    const first = startHolder(dataDir);
    assert.equal(await first.outcome, 'held');
    assert.throws(
      () => acquireDataDirLock(dataDir),
      (err: unknown) =>
        isCofferError(err, 'storage_unavailable') &&
        new RegExp(`another Coffer server \\(pid ${first.child.pid} on host .+\\) is using data dir`).test(
          (err as Error).message,
        ),
    );
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    acquireDataDirLock(dataDir).release();
  });

  test(
    'a server in another pid namespace (another container on a shared volume) is refused; after its kill -9 the next one starts',
    { skip: process.env.CI ? false : unshareMissing },
    async () => {
      const dataDir = tempDataDir();
      const first = startHolder(dataDir, otherContainer);
      assert.equal(await first.outcome, 'held');
      const second = startHolder(dataDir, otherContainer);
      assert.match(await second.outcome, /another Coffer server \(pid 1 on host .+\) is using data dir/);
      // SIGKILL to unshare kills the server (--kill-child); `close` comes once its pipes are closed.
      first.child.kill('SIGKILL');
      await once(first.child, 'close');
      const third = startHolder(dataDir, otherContainer);
      assert.equal(await third.outcome, 'held');
    },
  );

  test('a pid file naming a live process that holds no lock does not block a start', async () => {
    const dataDir = tempDataDir();
    // As after a restart in a new pid namespace, where the old pid now belongs to someone else.
    writeFileSync(join(dataDir, 'coffer.pid'), `${process.ppid}\n`);
    acquireDataDirLock(dataDir).release();
  });

  test('of three servers starting at once on a data dir with a stale pid file, exactly one gets it', async () => {
    const dataDir = tempDataDir();
    writeFileSync(join(dataDir, 'coffer.pid'), '999999\n');
    const outcomes = await Promise.all([1, 2, 3].map(() => startHolder(dataDir).outcome));
    assert.equal(outcomes.filter((o) => o === 'held').length, 1, outcomes.join(' | '));
  });
  test('a second open in this process through another spelling of the path is refused and keeps the lock', async () => {
    const dataDir = tempDataDir();
    const alias = join(tempDataDir(), 'alias');
    symlinkSync(dataDir, alias);
    const held = acquireDataDirLock(dataDir);
    try {
      assert.equal(statSync(join(dataDir, 'coffer.lock')).mode & 0o777, 0o600);
      for (const spelling of [alias, `${dataDir}/.`]) {
        assert.throws(() => acquireDataDirLock(spelling), /already open in this process/);
      }
      const other = startHolder(dataDir);
      assert.match(await other.outcome, new RegExp(`another Coffer server \\(pid ${process.pid} on host`));
    } finally {
      held.release();
    }
  });
});
