import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { freePort } from './support/cli-process.ts';
import { dockerContextKeeps, execForm, parseDockerfile, stageEnv } from './support/dockerfile.ts';
import { startTestNode } from './support/test-node.ts';

// The Dockerfile cannot be built here (no container engine; docs/packaging.md): its structure is
// checked, and what it runs (its environment, command and health check) is run from the checkout,
// including once with a read-only root filesystem as uid 10001 where this test is root.

const root = fileURLToPath(new URL('..', import.meta.url));
const { instructions, stages } = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const dockerignore = readFileSync(join(root, '.dockerignore'), 'utf8');
const runtime = stages[stages.length - 1]!;
const env = stageEnv(runtime);
const only = (keyword: string) => {
  const found = runtime.instructions.filter((i) => i.keyword === keyword);
  assert.equal(found.length, 1, `one ${keyword} in the runtime stage`);
  return found[0]!.args;
};
const entrypoint = execForm(only('ENTRYPOINT'));
const command = execForm(only('CMD'));
const healthcheck = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/.exec(only('HEALTHCHECK'))?.[1];
const workdir = only('WORKDIR');
/** A path of the image under /opt/coffer, as a path of the checkout (what COPY put there). */
const copiedFrom = (imagePath: string): string | undefined => {
  for (const { keyword, args } of runtime.instructions) {
    const match = /^(\S+)\s+(\S+)$/.exec(args);
    if (keyword !== 'COPY' || !match) continue;
    const target = join(workdir, match[2]!);
    if (imagePath === target || imagePath.startsWith(`${target}/`))
      return match[1]! + imagePath.slice(target.length);
  }
  return undefined;
};

describe('Dockerfile', () => {
  test('multi-stage on node:24-bookworm-slim: build, production deps, runtime', () => {
    assert.deepEqual(
      stages.map((s) => [s.name, s.image]),
      [
        ['build', 'node:24-bookworm-slim'],
        ['deps', 'node:24-bookworm-slim'],
        ['runtime', 'node:24-bookworm-slim'],
      ],
    );
    const build = stages[0]!.instructions.map((i) => i.args).join('\n');
    assert.match(build, /npm ci --ignore-scripts/);
    assert.match(build, /tsc -p tsconfig\.build\.json/);
    assert.match(stages[1]!.instructions.map((i) => i.args).join('\n'), /npm ci --omit=dev/);
    // tsc writes dist/ (tsconfig.build.json), which the runtime stage copies.
    const buildConfig = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8'));
    assert.equal(buildConfig.compilerOptions.outDir, 'dist');
    assert.ok(
      runtime.instructions.some((i) => i.keyword === 'COPY' && i.args === '--from=build /build/dist ./dist'),
    );
  });

  test('runs as a non-root user, with the data dir as a volume, TMPDIR in it, and the listener on 0.0.0.0:8270 exposed', () => {
    const user = only('USER');
    assert.match(user, /^10001:10001$/);
    assert.match(
      runtime.instructions.map((i) => i.args).join('\n'),
      /useradd --system --uid 10001 --gid coffer/,
    );
    assert.deepEqual(execForm(only('VOLUME')), [env.COFFER_DATA_DIR]);
    assert.equal(env.TMPDIR, env.COFFER_DATA_DIR);
    assert.equal(env.COFFER_LISTEN, `0.0.0.0:${only('EXPOSE')}`);
    assert.equal(env.COFFER_INSECURE_PLAINTEXT, undefined, 'plain HTTP is the operator’s choice');
  });

  test('the entry point is bin/coffer.js server, the health check the script it copies', () => {
    assert.deepEqual([...entrypoint, ...command], ['node', '/opt/coffer/bin/coffer.js', 'server']);
    assert.equal(copiedFrom('/opt/coffer/bin/coffer.js'), 'bin/coffer.js');
    assert.ok(healthcheck, 'HEALTHCHECK CMD in exec form');
    const check = execForm(healthcheck);
    assert.equal(check[0], 'node');
    assert.equal(copiedFrom(check[1]!), 'deploy/docker/healthcheck.mjs');
  });

  test('every COPY source exists in the checkout and in the build context, every --from a stage before it', () => {
    for (const { keyword, args, stage } of instructions.filter((i) => i.keyword === 'COPY')) {
      const from = /^--from=(\S+)\s/.exec(args)?.[1];
      const sources = args
        .replace(/^--\S+\s+/, '')
        .split(/\s+/)
        .slice(0, -1);
      if (from !== undefined) {
        assert.ok(
          stages.slice(0, stage).some((s) => s.name === from),
          `${keyword} ${args}: stage ${from} comes before`,
        );
        continue;
      }
      for (const source of sources) {
        assert.ok(existsSync(join(root, source)), `${source} exists`);
        assert.ok(
          dockerContextKeeps(dockerignore, source.replace(/\/$/, '')),
          `${source} is in the build context`,
        );
      }
    }
    assert.ok(!dockerContextKeeps(dockerignore, 'node_modules/pg/package.json'));
    assert.ok(!dockerContextKeeps(dockerignore, 'coffer-data/seal.key'));
    assert.ok(!dockerContextKeeps(dockerignore, 'src/app/app.test.ts'));
    assert.ok(dockerContextKeeps(dockerignore, 'src/app/app.ts'));
  });
});

/** Runs the health check script; its exit code. */
async function healthcheckExit(extraEnv: Record<string, string>): Promise<number | null> {
  const script = join(root, copiedFrom(execForm(healthcheck!)[1]!)!);
  const child = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH ?? '', ...extraEnv },
    stdio: 'ignore',
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

/** The image's command from the checkout, with the image's environment and `overrides`. */
function imageCommand(overrides: Record<string, string>, wrap: string[] = []): ChildProcess {
  const serverArgs = [join(root, copiedFrom(entrypoint[1]!)!), ...command];
  const [program, ...args] = [...wrap, process.execPath, ...serverArgs];
  return spawn(program!, args, {
    env: { PATH: process.env.PATH ?? '', NODE_DISABLE_COMPILE_CACHE: '1', ...env, ...overrides },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function untilHealthy(child: ChildProcess, listen: string, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await healthcheckExit({ COFFER_LISTEN: listen })) !== 0) {
    assert.equal(child.exitCode, null, `the server exited: ${output()}`);
    assert.ok(Date.now() < deadline, `not healthy within 30 s: ${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the image’s command, environment and health check, run from the checkout', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'coffer-image-'));
    dirs.push(dir);
    return dir;
  };
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  test('without TLS the image’s listener on 0.0.0.0 is refused (exit 2, saying what to set)', async () => {
    const data = tempDir();
    const child = imageCommand({ COFFER_DATA_DIR: data, TMPDIR: data });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 2);
    assert.match(
      stderr,
      /0\.0\.0\.0:8270 is not a loopback address: configure TLS, or pass --insecure-plaintext/,
    );
  });

  test('with COFFER_INSECURE_PLAINTEXT=true it serves on 0.0.0.0, the health check passes, SIGTERM stops it cleanly', async () => {
    const data = tempDir();
    const listen = `0.0.0.0:${await freePort()}`;
    const child = imageCommand({
      COFFER_DATA_DIR: data,
      TMPDIR: data,
      COFFER_LISTEN: listen,
      COFFER_INSECURE_PLAINTEXT: 'true',
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await untilHealthy(child, listen, () => output);
      assert.ok(existsSync(join(data, 'root-token')) && existsSync(join(data, 'coffer.db')));
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, output);
  });

  test('the health check fails on a sealed node (503) and where nothing listens', async () => {
    const sealed = await startTestNode({ env: { COFFER_SEAL: 'shamir' } });
    try {
      const health = await fetch(`${sealed.url}/v2/health`);
      assert.equal(health.status, 503);
      assert.equal(await healthcheckExit({ COFFER_LISTEN: `0.0.0.0:${new URL(sealed.url).port}` }), 1);
    } finally {
      await sealed.destroy();
    }
    assert.equal(await healthcheckExit({ COFFER_LISTEN: `0.0.0.0:${await freePort()}` }), 1);
  });

  const openssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
  test(
    'with COFFER_TLS_CERT set the health check speaks HTTPS to the node’s own certificate',
    { skip: openssl ? false : 'openssl not installed' },
    async () => {
      const dir = tempDir();
      const cert = join(dir, 'cert.pem');
      const key = join(dir, 'key.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=coffer.example',
          '-keyout',
          key,
          '-out',
          cert,
        ],
        { stdio: 'ignore' },
      );
      const node = await startTestNode({ env: { COFFER_TLS_CERT: cert, COFFER_TLS_KEY: key } });
      try {
        const listen = `0.0.0.0:${new URL(node.url).port}`;
        assert.equal(await healthcheckExit({ COFFER_LISTEN: listen, COFFER_TLS_CERT: cert }), 0);
        assert.equal(await healthcheckExit({ COFFER_LISTEN: listen }), 1, 'plain HTTP to a TLS listener');
        const url = `https://127.0.0.1:${new URL(node.url).port}/v2/health`;
        assert.equal(await healthcheckExit({ COFFER_HEALTHCHECK_URL: url }), 0);
      } finally {
        await node.destroy();
      }
    },
  );

  const tools = ['unshare', 'setpriv'].every(
    (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0,
  );
  // Root, and allowed to remount / read-only in a private mount namespace (not in every sandbox).
  const remountProbe =
    'mount --make-rprivate / && mount -o remount,bind,ro / && ! touch /coffer-ro-probe 2>/dev/null';
  const canIsolate =
    process.getuid?.() === 0 &&
    tools &&
    spawnSync('unshare', ['-m', 'sh', '-c', remountProbe], { stdio: 'ignore' }).status === 0;
  test(
    'with a read-only root filesystem, as uid 10001, only the data dir writable: it initializes, serves and stops',
    { skip: canIsolate ? false : 'needs root, unshare and setpriv (mount namespaces)' },
    async () => {
      const data = tempDir();
      chownSync(data, 10001, 10001);
      const listen = `0.0.0.0:${await freePort()}`;
      // A private mount namespace: the data dir bound onto itself (its own mount), then / remounted
      // read-only; the server runs in it as 10001:10001.
      const setup = `mount --make-rprivate / && mount --bind "$1" "$1" && mount -o remount,bind,ro / && touch /coffer-ro-probe 2>/dev/null && exit 90; shift; exec "$@"`;
      const wrap = [
        'unshare',
        '-m',
        'sh',
        '-c',
        setup,
        'sh',
        data,
        'setpriv',
        '--reuid=10001',
        '--regid=10001',
        '--clear-groups',
      ];
      const child = imageCommand(
        { COFFER_DATA_DIR: data, TMPDIR: data, COFFER_LISTEN: listen, COFFER_INSECURE_PLAINTEXT: 'true' },
        wrap,
      );
      let output = '';
      child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      try {
        await untilHealthy(child, listen, () => output);
        const token = readFileSync(join(data, 'root-token'), 'utf8').trim();
        const base = `http://127.0.0.1:${listen.split(':')[1]}`;
        const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
        const post = async (path: string, body: unknown) => {
          const res = await fetch(base + path, { method: 'POST', headers, body: JSON.stringify(body) });
          assert.equal(res.status, 201, await res.clone().text());
          return (await res.json()) as { id: string };
        };
        const project = await post('/v2/projects', {});
        const instance = await post(`/v2/projects/${project.id}/regions/local/instances`, { name: 'main' });
        const secrets = `/v2/projects/${project.id}/regions/local/instances/${instance.id}/secrets`;
        await post(secrets, { path: 'app/db-password', value: 'read-only-rootfs' });
        const read = await fetch(`${base}${secrets}/${encodeURIComponent('app/db-password')}/value`, {
          headers,
        });
        assert.equal(read.status, 200);
        assert.equal(((await read.json()) as { value: string }).value, 'read-only-rootfs');
      } finally {
        child.kill('SIGTERM');
      }
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, output);
      assert.doesNotMatch(output, /EROFS|read-only file system/i);
    },
  );
});
