import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { envNameFor } from '../src/cli/run-command.ts';
import { isDeniedVariable } from '../src/core/env-deny.ts';
import { CofferClient } from '../src/sdk/index.ts';
import { cofferBin } from './support/cli-process.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

/** Starts `coffer ARGS`; `done` resolves when its output is closed. */
function startCoffer(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [cofferBin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (output.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output.stderr += d.toString()));
  const done = once(child, 'close').then(([code]) => ({ code: code as number | null, ...output }));
  return { child, output, done };
}

const runCoffer = (args: string[], env: Record<string, string>) => startCoffer(args, env).done;

/** A node one-liner as the command `coffer run` starts. */
const nodeCommand = (source: string) => ['--', process.execPath, '-e', source];

describe('coffer run', { concurrency: true }, () => {
  let node: TestNode;
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    node = await startTestNode();
    dir = mkdtempSync(join(tmpdir(), 'coffer-cli-run-'));
    const admin = new CofferClient({ address: node.url, token: node.adminToken });
    const projectId = (await admin.projects.create({ displayName: 'cli-run' })).id;
    const instance = await admin.secrets.createInstance({ projectId, regionId: 'local' }, { name: 'main' });
    const ref = { projectId, regionId: 'local', instanceId: instance.id };
    for (const [path, value] of [
      ['prod/db/password', 's3cr3t'],
      ['prod/api-key', 'sk-123'],
      ['prod/9lives', 'cat'],
      ['other/token', 'tok en\nwith newline'],
      ['hook/node/options', '--no-deprecation'],
      ['hook/app/name', 'svc'],
      ['evil/ld/preload', '/tmp/evil.so'],
      ['jvm/java/opts', '-javaagent:/tmp/evil.jar'],
    ] as const)
      await admin.secrets.createSecret(ref, { path, value });
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

  test('the command gets the secrets as env vars and its exit code is passed on', async () => {
    const result = await runCoffer(
      [
        'run',
        '--secret',
        'DB_PASSWORD=prod/db/password',
        '--secret=TOKEN=other/token',
        ...nodeCommand(
          'process.stdout.write(JSON.stringify([process.env.DB_PASSWORD, process.env.TOKEN, process.argv.slice(1)])); process.exit(7)',
        ),
        'arg one',
        '--flag',
      ],
      env,
    );
    assert.equal(result.code, 7, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), ['s3cr3t', 'tok en\nwith newline', ['arg one', '--flag']]);
  });

  test('--prefix names variables from the rest of each path; --secret wins on a clash', async () => {
    const result = await runCoffer(
      [
        'run',
        '--prefix=prod/',
        '--secret=API_KEY=other/token',
        ...nodeCommand(
          'const e = process.env; process.stdout.write(JSON.stringify([e.DB_PASSWORD, e.API_KEY, e._9LIVES, e.TOKEN]))',
        ),
      ],
      env,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), ['s3cr3t', 'tok en\nwith newline', 'cat', null]);
    assert.equal(envNameFor('prod/db/password', 'prod/'), 'DB_PASSWORD');
    assert.equal(envNameFor('prod/db.url-v2', 'prod'), 'DB_URL_V2');
    assert.equal(envNameFor('prod/9lives', 'prod/'), '_9LIVES');
  });

  test('SIGTERM and SIGINT are forwarded to the command, whose exit code comes back', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const run = startCoffer(
        [
          'run',
          '--secret=X=prod/api-key',
          ...nodeCommand(
            `process.on('${signal}', () => { process.stdout.write('got ${signal} with ' + process.env.X); process.exit(42); }); process.stdout.write('ready'); setInterval(() => {}, 1000);`,
          ),
        ],
        env,
      );
      const deadline = Date.now() + 15_000;
      while (!run.output.stdout.includes('ready') && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      run.child.kill(signal);
      const result = await run.done;
      assert.equal(result.code, 42, `${signal}: ${result.stderr}`);
      assert.equal(result.stdout, `readygot ${signal} with sk-123`);
    }
  });

  test('a command killed by a signal gives 128 + its number, as shells do', async () => {
    const result = await runCoffer(
      ['run', '--secret=X=prod/api-key', ...nodeCommand("process.kill(process.pid, 'SIGKILL')")],
      env,
    );
    assert.equal(result.code, 137);
  });

  test('a secret that cannot be read stops the run before the command starts', async () => {
    const marker = join(dir, 'started');
    const result = await runCoffer(
      [
        'run',
        '--secret=A=prod/api-key',
        '--secret=B=does/not/exist',
        ...nodeCommand(`require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x')`),
      ],
      env,
    );
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /cannot read secret does\/not\/exist: .*\(not_found\)/);
    assert.equal(existsSync(marker), false);
  });

  test('bad usage and a command that does not exist fail in one line', async () => {
    const [noSecrets, badPair, missing, emptyPrefix] = await Promise.all([
      runCoffer(['run', '--', 'true'], env),
      runCoffer(['run', '--secret=1X=prod/api-key', '--', 'true'], env),
      runCoffer(['run', '--secret=X=prod/api-key', '--', 'no-such-command-coffer'], env),
      runCoffer(['run', '--prefix=nothing/', '--', 'true'], env),
    ]);
    assert.match(noSecrets.stderr, /give at least one --secret NAME=PATH or --prefix PREFIX/);
    assert.match(badPair.stderr, /--secret takes NAME=PATH/);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /cannot start no-such-command-coffer: command not found/);
    assert.match(emptyPrefix.stderr, /no secret under the prefix "nothing\/"/);
  });

  test('--prefix refuses to set a variable that runs code (NODE_OPTIONS, LD_*, …) from a secret name, before anything starts', async () => {
    const marker = join(dir, 'hooked');
    for (const prefix of ['hook/', 'evil/', 'jvm/']) {
      const result = await runCoffer(
        [
          'run',
          `--prefix=${prefix}`,
          ...nodeCommand(`require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x')`),
        ],
        env,
      );
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(
        result.stderr,
        prefix === 'hook/'
          ? /secret hook\/node\/options would set NODE_OPTIONS, which coffer run never sets from a --prefix .* --secret NODE_OPTIONS=hook\/node\/options/
          : prefix === 'evil/'
            ? /secret evil\/ld\/preload would set LD_PRELOAD/
            : /secret jvm\/java\/opts would set JAVA_OPTS/,
      );
      assert.doesNotMatch(result.stderr, /no-deprecation|evil\.so|evil\.jar/, 'the value is never shown');
      assert.equal(existsSync(marker), false, 'nothing started');
    }
    for (const name of [
      'NODE_OPTIONS',
      'LD_PRELOAD',
      'DYLD_INSERT_LIBRARIES',
      'PATH',
      'BASH_ENV',
      'ENV',
      'PYTHONSTARTUP',
      'PERL5OPT',
      'RUBYOPT',
      'JAVA_TOOL_OPTIONS',
      '_JAVA_OPTIONS',
      'JDK_JAVA_OPTIONS',
      'IFS',
      'SHELLOPTS',
      'PS4',
      'PROMPT_COMMAND',
      'GCONV_PATH',
      'HOSTALIASES',
      'LOCALDOMAIN',
      'RES_OPTIONS',
      'NODE_PATH',
      'GIT_SSH_COMMAND',
      'npm_config_script_shell',
      'JAVA_OPTS',
      'CATALINA_OPTS',
      'MAVEN_OPTS',
      'GRADLE_OPTS',
      'DOTNET_STARTUP_HOOKS',
      'CORECLR_PROFILER_PATH',
      'CORECLR_ENABLE_PROFILING',
      'COR_PROFILER_PATH',
      'ERL_AFLAGS',
      'ERL_FLAGS',
      'ERL_ZFLAGS',
      'SSLKEYLOGFILE',
      'REQUESTS_CA_BUNDLE',
      'CURL_CA_BUNDLE',
      'SSL_CERT_FILE',
      'SSL_CERT_DIR',
      'NODE_EXTRA_CA_CERTS',
      'HOME',
      'TMPDIR',
      'ELIXIR_ERL_OPTIONS',
      'GOFLAGS',
      'RUSTC_WRAPPER',
      'CARGO_BUILD_RUSTC_WRAPPER',
      'GEM_PATH',
      'LESSOPEN',
      'KUBECONFIG',
      'GLIBC_TUNABLES',
      'PIP_INDEX_URL',
    ])
      assert.ok(isDeniedVariable(name), name);
    for (const name of [
      'DB_PASSWORD',
      'API_KEY',
      'APP_NAME',
      'PATHS_FILE',
      'ENVIRONMENT',
      'CORS_ORIGINS',
      'HOME_URL',
      'DOTNET_ENVIRONMENT',
      'PIPELINE_ID',
      'TEMPLATE_DIR',
    ])
      assert.ok(!isDeniedVariable(name), name);
  });

  test('an explicit --secret may set a denied variable, and the rest of the prefix comes along', async () => {
    const result = await runCoffer(
      [
        'run',
        '--prefix=hook/',
        '--secret=NODE_OPTIONS=hook/node/options',
        ...nodeCommand(
          'process.stdout.write(JSON.stringify([process.env.NODE_OPTIONS, process.env.APP_NAME]))',
        ),
      ],
      env,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), ['--no-deprecation', 'svc']);
  });
});
