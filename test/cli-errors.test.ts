import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Command } from 'commander';
import { bashCompletion } from '../src/cli/completion-command.ts';
import { buildProgram } from '../src/cli/main.ts';
import { CofferClient } from '../src/sdk/index.ts';
import { cofferBin, freePort } from './support/cli-process.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

/** Runs `coffer ARGS` until its output is closed (not merely exited). */
async function runCoffer(args: string[], env: Record<string, string>, input?: string) {
  const child = spawn(process.execPath, [cofferBin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => undefined);
  child.stdin.end(input);
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/** Asserts a failure: the exit code, and exactly one line on stderr matching `pattern`. */
function assertOneLineError(result: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.notEqual(result.code, 0, 'expected a non-zero exit');
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected:\n${result.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /\bat .*\.(ts|js):\d+/, 'no stack trace');
}

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

describe('coffer errors, help, completion and login', { concurrency: true }, () => {
  let node: TestNode;
  let dir: string;
  let projectId: string;
  // A clean context: nothing from the developer's own profile or environment.
  const base = (configDir: string): Record<string, string> => ({
    COFFER_ADDR: '',
    COFFER_TOKEN: '',
    COFFER_PROJECT: '',
    COFFER_REGION: '',
    COFFER_INSTANCE: '',
    COFFER_CONFIG_DIR: configDir,
  });
  let configCount = 0;
  const freshConfig = () => join(dir, `config-${++configCount}`);

  before(async () => {
    node = await startTestNode();
    dir = mkdtempSync(join(tmpdir(), 'coffer-cli-errors-'));
    const admin = new CofferClient({ address: node.url, token: node.adminToken });
    projectId = (await admin.projects.create({ displayName: 'cli-errors' })).id;
    await admin.secrets.createInstance({ projectId, regionId: 'local' }, { name: 'main' });
    await admin.iam.createUser({ email: 'ops@example.com', password: 'a long enough password' });
  });
  after(async () => {
    await node?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('no token: one line with a hint, before any request', async () => {
    const result = await runCoffer(['secrets', 'list'], { ...base(freshConfig()), COFFER_ADDR: node.url });
    assertOneLineError(result, /^coffer: no token: run "coffer login", pass --token or set COFFER_TOKEN$/);
  });

  test('a bad token: 401 in one line with a hint to log in again', async () => {
    const result = await runCoffer(['projects', 'list'], {
      ...base(freshConfig()),
      COFFER_ADDR: node.url,
      COFFER_TOKEN: 'cfr_not_a_real_token',
    });
    assertOneLineError(result, /unauthenticated, HTTP 401.*coffer login/);
  });

  test('unknown commands and flags suggest the nearest one', async () => {
    const env = base(freshConfig());
    const [command, nested, flag] = await Promise.all([
      runCoffer(['secret', 'list'], env),
      runCoffer(['secrets', 'versions', 'acess', 'latest'], env),
      runCoffer(['secrets', 'versions', 'access', '--secret=db', '--stag', 'previous'], env),
    ]);
    assertOneLineError(command, /unknown command 'secret'.*Did you mean secrets\?/);
    assertOneLineError(nested, /unknown command 'acess'.*Did you mean access\?/);
    assertOneLineError(flag, /unknown option '--stag'.*Did you mean --stage\?/);
  });

  test('a data file that does not exist, a missing project and a bad --format are named', async () => {
    const env = { ...base(freshConfig()), COFFER_ADDR: node.url, COFFER_TOKEN: node.adminToken! };
    const [file, project, format, version] = await Promise.all([
      runCoffer(['secrets', 'create', 'x', '--data-file', join(dir, 'nope.txt')], {
        ...env,
        COFFER_PROJECT: projectId,
      }),
      runCoffer(['secrets', 'list'], env),
      runCoffer(['secrets', 'list', '--format', 'xml'], env),
      runCoffer(['secrets', 'versions', 'access', 'newest', '--secret=x'], {
        ...env,
        COFFER_PROJECT: projectId,
      }),
    ]);
    assertOneLineError(file, /cannot read --data-file .*nope\.txt: no such file/);
    assertOneLineError(project, /no project: pass --project, set COFFER_PROJECT/);
    assertOneLineError(format, /--format.*xml.*table, json, yaml/);
    assertOneLineError(version, /VERSION .* must be a positive integer, not "newest"/);
  });

  test('an unreachable server and an address that is not a URL say so in one line', async () => {
    const port = await freePort();
    const env = { ...base(freshConfig()), COFFER_TOKEN: 'cfr_x', COFFER_PROJECT: projectId };
    const [down, invalid] = await Promise.all([
      runCoffer(['secrets', 'list', `--address=http://127.0.0.1:${port}`], env),
      runCoffer(['secrets', 'list', '--address=localhost-8270'], env),
    ]);
    assertOneLineError(
      down,
      new RegExp(`cannot reach the server at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`),
    );
    assertOneLineError(invalid, /"localhost-8270" \(from flag\) is not a URL/);
  });

  test('login --token writes a 0600 profile that later commands use; logout removes the token', async () => {
    const config = freshConfig();
    const env = base(config);
    const login = await runCoffer(
      ['login', `--address=${node.url}`, `--token=${node.adminToken}`, `--project=${projectId}`],
      env,
    );
    assert.equal(login.code, 0, login.stderr);
    const path = join(config, 'profile.json');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), {
      address: node.url,
      token: node.adminToken,
      project: projectId,
    });
    assert.doesNotMatch(login.stdout, /cfr_/, 'the token is not echoed');
    const listed = await runCoffer(['instances', 'list', '--format=json'], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal((JSON.parse(listed.stdout) as Array<{ name: string }>)[0]?.name, 'main');

    const logout = await runCoffer(['logout'], env);
    assert.equal(logout.code, 0, logout.stderr);
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).token, undefined);
    assertOneLineError(await runCoffer(['instances', 'list'], env), /no token/);
  });

  test('login with a bad token writes nothing', async () => {
    const config = freshConfig();
    const result = await runCoffer(['login', `--address=${node.url}`, '--token=cfr_bad'], base(config));
    assertOneLineError(result, /HTTP 401/);
    assert.throws(() => statSync(join(config, 'profile.json')));
  });

  test('login --email --password-file uses POST /v2/auth/login; a wrong password is 401', async () => {
    const config = freshConfig();
    const passwordFile = join(dir, `password-${configCount}`);
    writeFileSync(passwordFile, 'a long enough password\n');
    const env = base(config);
    const login = await runCoffer(
      ['login', `--address=${node.url}`, '--email=ops@example.com', `--password-file=${passwordFile}`],
      env,
    );
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Logged in to .* as ops@example\.com until /);
    assert.match(JSON.parse(readFileSync(join(config, 'profile.json'), 'utf8')).token, /^cfr_/);
    const fromStdin = await runCoffer(
      ['login', `--address=${node.url}`, '--email=ops@example.com', '--password-file=-'],
      base(freshConfig()),
      'wrong password',
    );
    assertOneLineError(fromStdin, /unauthenticated, HTTP 401/);
  });

  test('logout revokes the session on the server and removes it; the root token is only removed', async () => {
    const config = freshConfig();
    const passwordFile = join(dir, `password-logout-${configCount}`);
    writeFileSync(passwordFile, 'a long enough password\n');
    const env = base(config);
    const login = await runCoffer(
      ['login', `--address=${node.url}`, '--email=ops@example.com', `--password-file=${passwordFile}`],
      env,
    );
    assert.equal(login.code, 0, login.stderr);
    const path = join(config, 'profile.json');
    const session = JSON.parse(readFileSync(path, 'utf8')).token as string;
    const logout = await runCoffer(['logout', '--format=json'], env);
    assert.equal(logout.code, 0, logout.stderr);
    assert.equal(JSON.parse(logout.stdout).revoked, true);
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).token, undefined);
    await assert.rejects(
      new CofferClient({ address: node.url, token: session }).iam.testPermissions('root', [
        'projects.create',
      ]),
      { code: 'unauthenticated' },
    );

    const root = freshConfig();
    await runCoffer(['login', `--address=${node.url}`, `--token=${node.adminToken}`], base(root));
    const rootOut = await runCoffer(['logout'], base(root));
    assert.equal(rootOut.code, 0, rootOut.stderr);
    assert.match(rootOut.stderr, /root token is not revoked/);
    assert.equal(JSON.parse(readFileSync(join(root, 'profile.json'), 'utf8')).token, undefined);
    const stillValid = new CofferClient({ address: node.url, token: node.adminToken! });
    assert.deepEqual((await stillValid.iam.testPermissions('root', ['projects.create'])).permissions, [
      'projects.create',
    ]);
  });

  test('every command has a description and --help', async () => {
    const program = buildProgram();
    const commands = allCommands(program);
    assert.ok(commands.length > 80, `only ${commands.length} commands`);
    for (const command of commands) {
      assert.ok(command.description(), `${command.name()} has no description`);
      assert.match(command.helpInformation(), /^Usage: /);
    }
    const help = await runCoffer(['secrets', 'versions', 'access', '--help'], base(freshConfig()));
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: coffer secrets versions access \[options\] \[version\]/);
    assert.match(help.stdout, /--stage <stage>/);
  });

  test('completion bash prints a script that completes subcommands and flags', async (t) => {
    const result = await runCoffer(['completion', 'bash'], base(freshConfig()));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, bashCompletion(buildProgram()));
    assert.match(result.stdout, /complete -o default -F _coffer_completion coffer/);
    if (spawnSync('bash', ['--version']).status !== 0) return t.skip('no bash here');
    const script = join(dir, 'completion.bash');
    writeFileSync(script, result.stdout);
    const complete = (words: string[]) =>
      spawnSync(
        'bash',
        [
          '-c',
          `source "${script}"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _coffer_completion; echo "\${COMPREPLY[@]}"`,
        ],
        { encoding: 'utf8' },
      ).stdout.trim();
    assert.equal(complete(['coffer', 'secrets', 'vers']), 'versions');
    assert.equal(
      complete(['coffer', '--format', 'json', 'secrets', 'versions', 'access', '--s']),
      '--secret --stage',
    );
    assert.deepEqual(complete(['coffer', 'kms', '']).split(' ').sort(), ['keyrings', 'keys', 'versions']);
  });
});
