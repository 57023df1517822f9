import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AuditEventView } from '../src/sdk/index.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const example = join(root, 'examples', 'secure-api');

// The recipe's three secrets (step 1), and the rotation of step 8.
const db =
  '{"host":"db.example.com","port":5432,"username":"api_user","password":"secure_db_password_123"}\n';
const keys =
  '{"external_api_key":"sk-1234567890abcdef","jwt_secret":"jwt_signing_key_xyz789","encryption_key":"aes256_encryption_key_abc123"}\n';
const config = '{"debug_mode":false,"rate_limit":1000,"cache_ttl":3600,"log_level":"INFO"}\n';
const names = { db: 'secure-api/db', keys: 'secure-api/keys', config: 'secure-api/config' };
const ttlMs = 1_000;

/** The example app's lock file: coffer from the tarball, its dependencies as coffer's lock pins them. */
function appLock(
  manifest: { name?: string; version?: string; dependencies: Record<string, string> },
  tarball: string,
) {
  type Entry = { dev?: boolean; devOptional?: boolean; link?: boolean } & Record<string, unknown>;
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, Entry>;
  };
  const self = lock.packages['']!;
  const packages: Record<string, unknown> = {
    '': { name: manifest.name, version: manifest.version, dependencies: manifest.dependencies },
    'node_modules/coffer': {
      version: self.version,
      resolved: `file:${tarball}`,
      license: self.license,
      dependencies: self.dependencies,
      bin: self.bin,
      engines: self.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages))
    if (path !== '' && !entry.dev && !entry.devOptional && !entry.link) packages[path] = entry;
  return { name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages };
}

/** The first ```js block of README's "The SDK" section, exactly as written. */
function readmeSnippet(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## The SDK\n'));
  const match = /```js\n([\s\S]*?)```/.exec(section);
  assert.ok(readme.includes('\n## The SDK\n') && match, 'README has a "The SDK" section with a js block');
  return match[1]!;
}

describe('the secure-api example, built and installed as a package, against a live node', () => {
  let dir: string;
  let app: string;
  let node: TestNode;
  let skip: string | undefined;
  let started: Promise<TestNode> | undefined;

  /** The installed `coffer` (it runs dist/, as users get it), until its output is closed. */
  async function coffer(args: string[], env: Record<string, string>, input?: string) {
    const child = spawn(
      process.execPath,
      [join(app, 'node_modules', 'coffer', 'bin', 'coffer.js'), ...args],
      {
        env: { ...process.env, COFFER_CONFIG_DIR: join(dir, 'config'), ...env },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    const [code] = (await once(child, 'close')) as [number | null];
    assert.equal(code, 0, `coffer ${args.join(' ')}: ${stderr}`);
    return stdout;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coffer-example-'));
    app = join(dir, 'app');
    mkdirSync(app);
    started = startTestNode();
    // npm turns on Node's compile cache in the temp dir; it would outlive the test.
    const npmEnv = { ...process.env, NODE_DISABLE_COMPILE_CACHE: '1' };
    await exec('npm', ['run', 'build'], { cwd: root, env: npmEnv });
    const packed = await exec('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], {
      cwd: root,
      env: npmEnv,
    });
    const tarball = join(dir, packed.stdout.trim().split('\n').pop()!);
    copyFileSync(join(example, 'server.js'), join(app, 'server.js'));
    const manifest = JSON.parse(readFileSync(join(example, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    manifest.dependencies.coffer = `file:${tarball}`;
    writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2));
    // A lock file made from coffer's own: `npm ci` then needs only the tarballs coffer's `npm ci`
    // left in npm's cache (an install without one would need registry metadata it never fetched).
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLock(manifest, tarball), null, 2));
    try {
      await exec('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
        cwd: app,
        env: npmEnv,
      });
    } catch (err) {
      const output = `${(err as { stderr?: string }).stderr ?? ''}`;
      // CI installs with `npm ci` first, which fills the cache: there a miss is a failure, never a skip.
      if (/ENOTCACHED/i.test(output) && process.env.CI !== 'true') {
        skip =
          "coffer's dependencies are not in npm's cache: run npm ci in the checkout (it fills the cache)";
        node = await started;
        return;
      }
      throw err;
    }
    node = await started;
  });
  after(async () => {
    await (node ?? (await started?.catch(() => undefined)))?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('secrets from stdin, accessor bindings on exactly three, the API reads them, rotation shows within the TTL, accesses are audited', async (t) => {
    if (skip) return t.skip(skip);
    const admin = {
      COFFER_ADDR: node.url,
      COFFER_TOKEN: node.adminToken!,
      COFFER_REGION: '',
      COFFER_INSTANCE: '',
    };
    const projectId = JSON.parse(await coffer(['projects', 'create', 'Secure API', '--format=json'], admin))
      .id as string;
    const context = { ...admin, COFFER_PROJECT: projectId };
    const instanceId = JSON.parse(
      await coffer(['instances', 'create', 'secure-api', '--format=json'], context),
    ).id as string;
    const inInstance = { ...context, COFFER_INSTANCE: instanceId };
    await Promise.all(
      [
        [names.db, db],
        [names.keys, keys],
        [names.config, config],
        ['secure-api/admin', 'not for the API'],
      ].map(([path, value]) => coffer(['secrets', 'create', path!, '--data-file=-'], inInstance, value)),
    );

    const account = JSON.parse(
      await coffer(
        ['service-accounts', 'create', 'secure-api-sa', '--display-name=Secure API', '--format=json'],
        context,
      ),
    ).email as string;
    const member = `serviceAccount:${account}`;
    await Promise.all(
      Object.values(names).map((path) =>
        coffer(
          [
            'secrets',
            'add-iam-policy-binding',
            path,
            `--member=${member}`,
            '--role=roles/secretsmanager.secretAccessor',
          ],
          inInstance,
        ),
      ),
    );
    const token = (
      await coffer(['service-accounts', 'tokens', 'create', account, '--ttl=3600s'], context)
    ).trim();

    const server = spawn(process.execPath, ['server.js'], {
      cwd: app,
      env: {
        ...process.env,
        PORT: '0',
        COFFER_ADDR: node.url,
        COFFER_TOKEN: token,
        COFFER_PROJECT: projectId,
        COFFER_REGION: 'local',
        COFFER_INSTANCE: instanceId,
        DB_SECRET_NAME: names.db,
        KEYS_SECRET_NAME: names.keys,
        CONFIG_SECRET_NAME: names.config,
        SECRET_CACHE_TTL_MS: String(ttlMs),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => server.kill('SIGKILL'));
    let output = '';
    server.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      server.stdout.on('data', (d: Buffer) => {
        output += d.toString();
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) resolve(match[1]!);
      });
      server.on('exit', () => reject(new Error(`the example exited: ${output}`)));
    });
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`${url}${path}`, { headers });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };

    assert.deepEqual(await get('/health'), {
      status: 200,
      body: { status: 'healthy', service: 'secure-api' },
    });
    assert.deepEqual(await get('/config'), {
      status: 200,
      body: { debug_mode: false, rate_limit: 1000, cache_ttl: 3600, log_level: 'INFO' },
    });
    assert.deepEqual(await get('/database/status'), {
      status: 200,
      body: { database: 'connected', host: 'db.example.com', port: 5432 },
    });
    assert.equal((await get('/api/data')).status, 401);
    assert.equal((await get('/api/data', { authorization: 'Bearer sk-wrong' })).status, 401);
    const data = await get('/api/data', { authorization: 'Bearer sk-1234567890abcdef' });
    assert.equal(data.status, 200);
    assert.equal(data.body.data, 'sensitive_api_data');

    // The service account reads exactly its three secrets: the fourth is denied.
    const denied = await fetch(
      `${node.url}/v2/projects/${projectId}/regions/local/instances/${instanceId}/secrets/${encodeURIComponent('secure-api/admin')}/value`,
      { headers: { authorization: `Bearer ${token}` } },
    );
    assert.equal(denied.status, 403);

    // Rotation (recipe step 8): add versions; the API serves the new values within the cache TTL.
    await coffer(
      ['secrets', 'versions', 'add', names.db, '--data-file=-'],
      inInstance,
      db.replace('secure_db_password_123', 'rotated_password_456').replace('5432', '6432'),
    );
    await coffer(
      ['secrets', 'versions', 'add', names.keys, '--data-file=-'],
      inInstance,
      keys.replace('sk-1234567890abcdef', 'sk-rotated'),
    );
    const rotatedAt = Date.now();
    let seen = false;
    while (!seen && Date.now() - rotatedAt < ttlMs + 3_000) {
      seen = (await get('/api/data', { authorization: 'Bearer sk-rotated' })).status === 200;
      if (!seen) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(seen, 'the rotated API key was not accepted within the TTL');
    assert.ok(Date.now() - rotatedAt < ttlMs + 3_000);
    assert.equal((await get('/api/data', { authorization: 'Bearer sk-1234567890abcdef' })).status, 401);
    assert.equal((await get('/database/status')).body.port, 6432);

    const stats = (await get('/cache/stats')).body;
    assert.ok((stats.hits as number) > 0, JSON.stringify(stats));

    // The accesses, read back with `coffer audit list` as the admin: the service account, not the admin.
    const events = JSON.parse(
      await coffer(
        [
          'audit',
          'list',
          `--secret=${names.keys}`,
          '--action=secrets.get_value',
          `--principal=${member}`,
          '--format=json',
        ],
        inInstance,
      ),
    ) as AuditEventView[];
    assert.ok(events.length >= 2, 'a read before and after the rotation');
    assert.ok(events.every((e) => e.result === 'ok' && e.userAgent === 'secure-api-example'));
    const readsOfAll = (await fetch(`${url}/cache/stats`).then((r) => r.json())) as { fetches: number };
    assert.ok(events.length <= readsOfAll.fetches, 'every audited read is one of the reader fetches');

    server.kill('SIGTERM');
    await once(server, 'exit');
  });

  test("README's SDK snippet runs as written, from the installed package and from the checkout", async (t) => {
    const snippet = readmeSnippet();
    const env = { ...process.env, COFFER_ADDR: node.url, COFFER_TOKEN: node.adminToken! };
    // A project that depends on the checkout (npm install /path/to/coffer links it).
    const linked = join(dir, 'linked');
    mkdirSync(join(linked, 'node_modules'), { recursive: true });
    symlinkSync(root, join(linked, 'node_modules', 'coffer'), 'dir');
    const places = skip ? [linked] : [app, linked];
    if (skip) t.diagnostic(`only from the checkout: ${skip}`);
    for (const place of places) {
      writeFileSync(join(place, 'sdk-demo.mjs'), snippet);
      const { stdout } = await exec(process.execPath, ['sdk-demo.mjs'], { cwd: place, env });
      assert.equal(stdout, 'n3w\n', place);
    }
  });
});
