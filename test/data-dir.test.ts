import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { cofferBin, type ServerProcess, startServerProcess } from './support/cli-process.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call } from './support/test-node.ts';
import { createApp } from '../src/app/app.ts';
import { systemClock } from '../src/core/clock.ts';
import { loadConfig } from '../src/core/config.ts';
import { createLogger } from '../src/core/logger.ts';
import { buildServer } from '../src/http/server.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-datadir-'));
  dirs.push(dir);
  return dir;
}
const databases: TestDatabase[] = [];
after(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  for (const database of databases) await database.drop();
});

/** Runs `coffer server` expecting it to exit; one that starts after all is killed (exit code null). */
async function runServerToExit(
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [cofferBin, 'server'], {
    env: { ...process.env, COFFER_LISTEN: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stderr };
}

async function stopServer(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
}

/** The seal record of an embedded store, if it was initialized. */
function sqliteSealRows(dataDir: string): number {
  const db = new DatabaseSync(join(dataDir, 'coffer.db'), { readOnly: true });
  try {
    const row = db.prepare("SELECT count(*) AS n FROM system WHERE name = 'seal'").get() as { n: number };
    return row.n;
  } finally {
    db.close();
  }
}

describe('a start that fails leaves nothing initialized', () => {
  test('with the port in use: exit 1, no seal record, key file or root-token; a later start initializes', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as { port: number };
    const dataDir = tempDir();
    try {
      const failed = await runServerToExit({
        COFFER_DATA_DIR: dataDir,
        COFFER_LISTEN: `127.0.0.1:${port}`,
      });
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(
        failed.stderr,
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use`),
      );
      assert.equal(existsSync(join(dataDir, 'root-token')), false);
      assert.equal(existsSync(join(dataDir, 'seal.key')), false);
      assert.equal(sqliteSealRows(dataDir), 0);
    } finally {
      blocker.close();
    }
    const server = await startServerProcess({ COFFER_DATA_DIR: dataDir });
    try {
      const token = readFileSync(join(dataDir, 'root-token'), 'utf8').trim();
      assert.equal((await call(server.url, 'GET', '/v2/health')).body.status, 'ok');
      assert.equal((await call(server.url, 'GET', '/v2/projects', { token })).status, 200);
    } finally {
      await stopServer(server);
    }
  });

  test('an existing root-token file is never overwritten: the start is refused and nothing is initialized', async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, 'root-token'), 'cfr_token_of_another_store\n', { mode: 0o600 });
    const failed = await runServerToExit({ COFFER_DATA_DIR: dataDir });
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /root-token exists .* never overwritten/);
    assert.equal(readFileSync(join(dataDir, 'root-token'), 'utf8'), 'cfr_token_of_another_store\n');
    assert.equal(existsSync(join(dataDir, 'seal.key')), false);
    assert.equal(sqliteSealRows(dataDir), 0);
  });
});

test('a request that arrives while the server finishes its first start waits, then sees it initialized', async () => {
  const dataDir = tempDir();
  const config = loadConfig({ env: { COFFER_DATA_DIR: dataDir, COFFER_LOG_LEVEL: 'silent' } });
  const app = await createApp(config, createLogger('silent'), systemClock, { deferFirstInit: true });
  let open = () => {};
  const startGate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const server = await buildServer(app, { startGate });
  try {
    await server.listen({ host: '127.0.0.1', port: 0 });
    const { port } = server.server.address() as { port: number };
    let answered = false;
    const health = call(`http://127.0.0.1:${port}`, 'GET', '/v2/health').then((answer) => {
      answered = true;
      return answer;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(answered, false, 'answered before the start finished');
    assert.equal(existsSync(join(dataDir, 'root-token')), false);
    await app.finishStart();
    open();
    assert.equal((await health).body.status, 'ok');
    assert.equal(existsSync(join(dataDir, 'root-token')), true);
  } finally {
    await server.close();
    await app.close();
  }
});

const skip = (await postgresSkipReason()) ?? false;

describe('a data dir belongs to one database', { skip }, () => {
  test('a PostgreSQL server next to a SQLite server is refused the data dir, and never touches its root-token', async () => {
    const dataDir = tempDir();
    const database = await createTestDatabase();
    databases.push(database);
    const sqlite = await startServerProcess({ COFFER_DATA_DIR: dataDir });
    const token = readFileSync(join(dataDir, 'root-token'), 'utf8');
    const postgres = {
      COFFER_DATA_DIR: dataDir,
      COFFER_LISTEN: '127.0.0.1:0',
      COFFER_DATABASE_URL: database.url,
    };
    try {
      const locked = await runServerToExit(postgres);
      assert.equal(locked.code, 1, locked.stderr);
      assert.match(locked.stderr, /another Coffer server \(pid \d+ on host .+\) is using data dir/);
    } finally {
      await stopServer(sqlite);
    }
    const other = await runServerToExit(postgres);
    assert.equal(other.code, 2, other.stderr);
    assert.equal(other.stderr.trim().split('\n').length, 1, other.stderr);
    assert.match(
      other.stderr,
      /invalid configuration: dataDir: .*belongs to the SQLite database .*coffer\.db/,
    );
    assert.match(other.stderr, /own data dir/);
    assert.equal(readFileSync(join(dataDir, 'root-token'), 'utf8'), token);
  });

  test('PostgreSQL mode creates its data dir (0700), locks it, and refuses it to another database', async () => {
    const dataDir = join(tempDir(), 'nested', 'coffer-data');
    const [first, second] = [await createTestDatabase(), await createTestDatabase()];
    databases.push(first, second);
    const server = await startServerProcess({ COFFER_DATA_DIR: dataDir, COFFER_DATABASE_URL: first.url });
    let token: string;
    try {
      assert.equal(statSync(dataDir).mode & 0o777, 0o700);
      assert.deepEqual(readdirSync(dataDir).sort(), [
        'coffer.lock',
        'coffer.pid',
        'database',
        'root-token',
        'seal.key',
      ]);
      const owner = JSON.parse(readFileSync(join(dataDir, 'database'), 'utf8'));
      assert.equal(owner.engine, 'postgres');
      assert.match(owner.database, new RegExp(`/${first.name}$`));
      token = readFileSync(join(dataDir, 'root-token'), 'utf8');
      const twin = await runServerToExit({
        COFFER_DATA_DIR: dataDir,
        COFFER_LISTEN: '127.0.0.1:0',
        COFFER_DATABASE_URL: first.url,
      });
      assert.equal(twin.code, 1, twin.stderr);
      assert.match(twin.stderr, /another Coffer server/);
    } finally {
      await stopServer(server);
    }
    assert.equal(existsSync(join(dataDir, 'coffer.pid')), false, 'the lock is released on stop');
    const elsewhere = await runServerToExit({
      COFFER_DATA_DIR: dataDir,
      COFFER_LISTEN: '127.0.0.1:0',
      COFFER_DATABASE_URL: second.url,
    });
    assert.equal(elsewhere.code, 2, elsewhere.stderr);
    assert.match(
      elsewhere.stderr,
      new RegExp(`belongs to the PostgreSQL database .*/${first.name} \\(store `),
    );
    assert.equal(readFileSync(join(dataDir, 'root-token'), 'utf8'), token);
    // The same database is welcome back.
    const again = await startServerProcess({ COFFER_DATA_DIR: dataDir, COFFER_DATABASE_URL: first.url });
    try {
      assert.equal((await call(again.url, 'GET', '/v2/projects', { token: token.trim() })).status, 200);
    } finally {
      await stopServer(again);
    }
  });
});
