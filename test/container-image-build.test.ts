import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

// Where a container engine answers (`docker info`), CI builds the image and smoke-tests it: started
// with a read-only root filesystem, it runs as 10001, turns healthy, serves /v2/health through the
// published port and writes its data dir in the volume. Without an engine (this machine: a Docker
// CLI, no daemon) it is skipped; docs/packaging.md says what is checked instead.

const root = fileURLToPath(new URL('..', import.meta.url));
const docker = process.env.COFFER_TEST_DOCKER ?? 'docker';
const engine = spawnSync(docker, ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0;

function run(args: string[], timeout = 60_000): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(docker, args, { encoding: 'utf8', cwd: root, timeout });
  return { status: result.status, stdout: result.stdout?.trim() ?? '', stderr: result.stderr ?? '' };
}

function must(args: string[], timeout?: number): string {
  const result = run(args, timeout);
  assert.equal(result.status, 0, `${docker} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

test(
  'the image builds, starts with a read-only root filesystem as uid 10001, and turns healthy',
  {
    skip: engine ? false : `no container engine (${docker} info fails): the image is not built here`,
    timeout: 900_000,
  },
  async () => {
    const tag = `coffer-smoke:${process.pid}`;
    must(['build', '--tag', tag, '.'], 840_000);
    let id: string | undefined;
    try {
      id = must([
        'run',
        '--detach',
        '--read-only',
        '--env',
        'COFFER_INSECURE_PLAINTEXT=true',
        '--publish',
        '127.0.0.1::8270',
        tag,
      ]);
      assert.equal(must(['inspect', '--format', '{{.Config.User}}', id]), '10001:10001');
      // The first health check runs one interval (30 s) after the start.
      const deadline = Date.now() + 120_000;
      for (;;) {
        const [running, health]: string[] = must([
          'inspect',
          '--format',
          '{{.State.Running}} {{.State.Health.Status}}',
          id,
        ]).split(' ');
        if (health === 'healthy') break;
        if (running !== 'true' || Date.now() > deadline) {
          const why: string = running !== 'true' ? 'the container stopped' : 'not healthy within 120 s';
          assert.fail(`${why}: ${run(['logs', id]).stdout}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      const port = must(['port', id, '8270/tcp']).split('\n')[0]!.split(':').pop();
      const health = await fetch(`http://127.0.0.1:${port}/v2/health`);
      assert.equal(health.status, 200);
      must(['exec', id, 'node', '-e', "require('node:fs').accessSync('/var/lib/coffer/root-token')"]);
      const write = run(['exec', id, 'sh', '-c', 'touch /opt/coffer/probe']);
      assert.notEqual(write.status, 0, 'the root filesystem is read-only');
      must(['stop', '--time', '20', id], 60_000);
      assert.equal(must(['inspect', '--format', '{{.State.ExitCode}}', id]), '0', 'SIGTERM stops it cleanly');
    } finally {
      if (id !== undefined) run(['rm', '--force', '--volumes', id]);
      run(['rmi', tag]);
    }
  },
);
