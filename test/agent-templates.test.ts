import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadAgentConfig } from '../src/agent/agent-config.ts';
import { parseTemplate } from '../src/agent/template-parser.ts';
import { type AgentFixture, startAgent, startAgentFixture, waitFor } from './support/agent-fixture.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';

// Bytes that are not UTF-8, so the server answers them as binaryValue.
const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x0a, 0xc3, 0x28, 0x7f, 0x00, 0xff]);
const dbJson = '{"host":"db.example.com","port":5432,"user":"api_user","password":"p@ss {w}rd\\n"}';

describe('coffer agent: config and templates', { concurrency: true }, () => {
  let f: AgentFixture;

  before(async () => {
    f = await startAgentFixture();
    await f.secret('app/db', dbJson);
    await f.secret('app/cert', binary);
    await f.secret('app/plain', 'hello <world> & "you"');
    await f.secret('app/forbidden', 'nope', false);
  });
  after(async () => {
    await f?.destroy();
  });

  test('a bad field exits 2 with one line naming it', async () => {
    for (const [yaml, field] of [
      ['cache:\n  maxStale: soon\ntemplates: []\nlisten: unix:/tmp/x.sock\n', 'cache.maxStale'],
      ['cache:\n  revalidate: 200ms\nlisten: unix:/tmp/x.sock\n', 'cache.revalidate'],
      ['cache:\n  revalidate: often\nlisten: unix:/tmp/x.sock\n', 'cache.revalidate'],
      ['templtes: []\n', 'templtes'],
      [`templates:\n  - contents: x\n    destination: ${f.dir}/x\n    mode: "0999"\n`, 'templates[0].mode'],
      ['listen: 0.0.0.0:9999\n', 'listen'],
      ['listen: 127.0.0.1:9999\n', 'listenerTokenFile'],
      ['exec:\n  command: [sh]\n  env:\n    NODE_OPTIONS: app/plain\n', 'exec.env.NODE_OPTIONS'],
      ['exec:\n  command: [sh]\n  onChange: reboot\n', 'exec.onChange'],
    ] as const) {
      const result = await startAgent(['--config', f.config('bad.yaml', yaml)]).done;
      assert.equal(result.code, 2, `${field}: ${result.stderr}`);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(
        lines[0]!,
        new RegExp(`invalid configuration: ${field.replace(/[[\].]/g, '\\$&')}:`),
        result.stderr,
      );
    }
  });

  test('the example configuration and template are valid', () => {
    const example = fileURLToPath(new URL('../examples/agent/agent.yaml', import.meta.url));
    const template = fileURLToPath(new URL('../examples/agent/app.env.tmpl', import.meta.url));
    const config = loadAgentConfig(example, (path) =>
      path === example
        ? readFileSync(example, 'utf8')
        : path === '/etc/coffer-agent/app.env.tmpl'
          ? readFileSync(template, 'utf8')
          : 'a-listener-token-of-32-characters',
    );
    assert.equal(config.templates.length, 2);
    assert.equal(config.maxStaleMs, 86_400_000);
    assert.equal(config.revalidateMs, 300_000);
    const parsed = config.templates.map(parseTemplate);
    assert.equal(parsed[1]!.wholeFile, 'secure-api/tls-keystore');
    assert.deepEqual([...parsed[0]!.references], ['secure-api/db', 'secure-api/keys', 'secure-api/config']);
  });

  test('--once renders byte-exact binary, JSON fields and text unescaped, mode 0600 by default, and exits 0', async () => {
    const out = join(f.dir, 'once');
    mkdirSync(out);
    writeFileSync(
      join(out, 'app.tmpl'),
      'host={{ secret "app/db" "host" }}:{{ secret "app/db" "port" }}\npassword={{ secret "app/db" "password" }}\nplain={{ secret "app/plain" }}\n',
    );
    const config = f.config(
      'once.yaml',
      `templates:
  - source: ${out}/app.tmpl
    destination: ${out}/app.env
  - contents: '{{ secret "app/cert" }}'
    destination: ${out}/cert.bin
    mode: "0640"
  - contents: "{{ secret \\"app/db\\" }}"
    destination: ${out}/db.json
    command: [sh, -c, "echo ran > ${out}/command.out"]
  - contents: "{{ secret \\"app/plain\\" }}"
    destination: ${out}/plain.txt
    command: "exit 3"
`,
    );
    const result = await startAgent(['--config', config, '--once']).done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      readFileSync(join(out, 'app.env'), 'utf8'),
      'host=db.example.com:5432\npassword=p@ss {w}rd\n\nplain=hello <world> & "you"\n',
    );
    assert.deepEqual(readFileSync(join(out, 'cert.bin')), binary);
    assert.equal(readFileSync(join(out, 'db.json'), 'utf8'), dbJson);
    assert.equal(readFileSync(join(out, 'command.out'), 'utf8'), 'ran\n', 'the command ran after the write');
    assert.match(result.stderr, /the template command failed/, 'a failing command is logged, not fatal');
    assert.equal(statSync(join(out, 'app.env')).mode & 0o777, 0o600);
    assert.equal(statSync(join(out, 'cert.bin')).mode & 0o777, 0o640);
    assert.doesNotMatch(result.stderr + result.stdout, /api_user|p@ss|hello <world>/, 'no value in the logs');
  });

  test('a template syntax error exits 2 with file:line', async () => {
    const file = join(f.dir, 'broken.tmpl');
    writeFileSync(file, 'line one\n{{ secret "app/plain" }\n');
    const config = f.config(
      'broken.yaml',
      `templates:\n  - source: ${file}\n    destination: ${f.dir}/broken.out\n`,
    );
    const result = await startAgent(['--config', config, '--once']).done;
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`${file}:2: `));
    assert.equal(existsSync(join(f.dir, 'broken.out')), false);
  });

  test('a template that fails at render names the template, line and a fixed reason, never the value (log and stderr)', async () => {
    const file = join(f.dir, 'leak.tmpl');
    writeFileSync(file, 'a\n{{#with (secret "app/plain")}}{{password}}{{/with}}\n');
    const config = f.config(
      'leak.yaml',
      `templates:
  - source: ${file}
    destination: ${f.dir}/leak1.out
  - contents: '{{#with (secret "app/db" "user")}}{{name}}{{/with}}'
    destination: ${f.dir}/leak2.out
  - contents: '{{ secret "app/db" "pass" }}'
    destination: ${f.dir}/leak3.out
  - contents: '{{ secret "app/plain" "field" }}'
    destination: ${f.dir}/leak4.out
  - contents: "{{#if (secret \\"app/db\\")}}\\n{{nope}}{{/if}}"
    destination: ${f.dir}/leak5.out
`,
    );
    const result = await startAgent(['--config', config, '--once']).done;
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`coffer: template ${file}: the template looks up a field`));
    assert.match(result.stderr, /coffer: template templates\[1\]\.contents: the template looks up a field/);
    assert.match(
      result.stderr,
      /coffer: template templates\[2\]\.contents: secret app\/db has no JSON field pass/,
    );
    assert.match(result.stderr, /coffer: template templates\[3\]\.contents: secret app\/plain is not JSON/);
    assert.match(
      result.stderr,
      /coffer: template templates\[4\]\.contents:2: a name the template looks up is not defined/,
    );
    assert.doesNotMatch(result.stderr + result.stdout, /api_user|p@ss|hello <world>|db\.example|5432/);
  });

  test('a template naming a secret the identity cannot read fails at start, naming the template and the path', async () => {
    const config = f.config(
      'denied.yaml',
      `templates:\n  - contents: 'x={{ secret "app/forbidden" }}'\n    destination: ${f.dir}/denied.out\n`,
    );
    const result = await startAgent(['--config', config]).done;
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /template templates\[0\]\.contents reads secret app\/forbidden, which cannot be read/,
    );
    assert.match(result.stderr, /permission_denied/);
    assert.equal(existsSync(join(f.dir, 'denied.out')), false);
  });

  test('an unwritable destination is named and the other templates still render', async () => {
    const config = f.config(
      'unwritable.yaml',
      `templates:
  - contents: a
    destination: ${f.dir}/missing-dir/a.out
  - contents: '{{ secret "app/plain" }}'
    destination: ${f.dir}/written.out
`,
    );
    const result = await startAgent(['--config', config, '--once']).done;
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`cannot write ${f.dir}/missing-dir/a.out \\(ENOENT\\)`));
    assert.equal(readFileSync(join(f.dir, 'written.out'), 'utf8'), 'hello <world> & "you"');
  });

  test('server down at start: the agent retries with backoff and writes nothing until every value is read', async () => {
    const target = new URL(f.node.url);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    try {
      await proxy.cut();
      const out = join(f.dir, 'down');
      mkdirSync(out);
      const config = f.config(
        'down.yaml',
        `templates:
  - contents: '{{ secret "app/plain" }}'
    destination: ${out}/a.out
  - contents: '{{ secret "app/db" "user" }}'
    destination: ${out}/b.out
`,
        `http://127.0.0.1:${proxy.port}`,
      );
      const agent = startAgent(['--config', config, '--once']);
      await waitFor('a retry in the log', () => agent.output.stderr.includes('retrying'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(readdirSync(out), [], 'nothing rendered while the server is down');
      await proxy.restore();
      const result = await agent.done;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(readFileSync(join(out, 'a.out'), 'utf8'), 'hello <world> & "you"');
      assert.equal(readFileSync(join(out, 'b.out'), 'utf8'), 'api_user');
    } finally {
      await proxy.close();
    }
  });

  test('SIGKILL mid-render never leaves a partial file at the destination', async () => {
    const out = join(f.dir, 'kill');
    mkdirSync(out);
    await f.secret('app/big', 'a'.repeat(60_000));
    // About 12 MB of output, so the agent can be killed while its temporary file is being written.
    const config = f.config(
      'kill.yaml',
      `templates:\n  - contents: '${'{{ secret "app/big" }}'.repeat(200)}'\n    destination: ${out}/big.out\n`,
    );
    const complete = (letter: string) => letter.repeat(60_000).repeat(200);
    const isTemp = (name: string) => name.startsWith('.big.out.coffer-tmp-');
    assert.equal((await startAgent(['--config', config, '--once']).done).code, 0);
    let previous = readFileSync(join(out, 'big.out'), 'utf8');
    assert.equal(previous, complete('a'));
    let killedMidWrite = 0;
    for (const letter of ['b', 'c', 'd', 'e']) {
      await f.put('app/big', letter.repeat(60_000));
      const agent = startAgent(['--config', config, '--once']);
      // Kill the moment its temporary file appears (or when it is done, if the write was too quick).
      while (agent.child.exitCode === null && !readdirSync(out).some(isTemp))
        await new Promise((resolve) => setTimeout(resolve, 1));
      if (agent.child.exitCode === null) killedMidWrite++;
      agent.child.kill('SIGKILL');
      await agent.done;
      const names = readdirSync(out);
      assert.ok(
        names.every((name) => name === 'big.out' || isTemp(name)),
        names.join(),
      );
      assert.ok(names.includes('big.out'));
      const content = readFileSync(join(out, 'big.out'), 'utf8');
      assert.ok(content === complete(letter) || content === previous, 'only the whole old or new file');
      previous = content;
    }
    assert.ok(killedMidWrite > 0, 'at least one kill landed while the temporary file was being written');
    const result = await startAgent(['--config', config, '--once']).done;
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(readdirSync(out), ['big.out'], 'a later run removes leftover temporary files');
    assert.equal(readFileSync(join(out, 'big.out'), 'utf8'), complete('e'));
  });
});
