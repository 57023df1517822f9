import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CofferClient, type IssuedCredentialView, type LeaseView } from '../src/sdk/index.ts';
import { cofferBin, runCoffer } from './support/cli-process.ts';
import { createTestDatabase, type TestDatabase, withAdmin } from './support/postgres.ts';
import { canLogin, passwordAuthGroup, passwordAuthSkipReason, testServer } from './support/postgres-roles.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

const skip = await passwordAuthSkipReason();

/** Whether a role of that name exists on the test server. */
async function roleExists(name: string): Promise<boolean> {
  const found = await withAdmin((client) =>
    client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]),
  );
  return found.rowCount === 1;
}

// Issued logins are members of coffer_password_auth, so their passwords are really checked.
const creation = `CREATE ROLE {{name}} LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}} IN ROLE ${passwordAuthGroup}`;

describe(
  'coffer secrets rotate, db, leases and run --db-role as processes',
  { skip, concurrency: true },
  () => {
    let node: TestNode;
    let database: TestDatabase;
    let dir: string;
    let env: Record<string, string>;
    const ok = async (args: string[], input?: string) => {
      const result = await runCoffer(args, env, input);
      assert.equal(result.code, 0, `coffer ${args.join(' ')}: ${result.stderr}`);
      return result;
    };

    before(async () => {
      node = await startTestNode();
      database = await createTestDatabase();
      dir = mkdtempSync(join(tmpdir(), 'coffer-cli-dyn-'));
      const admin = new CofferClient({ address: node.url, token: node.adminToken });
      const projectId = (await admin.projects.create({ displayName: 'cli-dyn' })).id;
      const instanceId = (
        await admin.secrets.createInstance({ projectId, regionId: 'local' }, { name: 'main' })
      ).id;
      env = {
        COFFER_ADDR: node.url,
        COFFER_TOKEN: node.adminToken!,
        COFFER_PROJECT: projectId,
        COFFER_REGION: '',
        COFFER_INSTANCE: instanceId,
        COFFER_CONFIG_DIR: join(dir, 'config'),
      };
      const adminLogin = { ...testServer, username: 'postgres', password: 'x' };
      await ok(['secrets', 'create', 'db/admin', '--data-file=-'], JSON.stringify(adminLogin));
      await ok([
        'db',
        'create',
        'app',
        `--host=${testServer.host}`,
        `--port=${testServer.port}`,
        `--database=${database.name}`,
        '--admin-secret=db/admin',
      ]);
      await ok([
        'db',
        'role',
        'put',
        'app/rw',
        `--creation-statement=${creation}`,
        '--default-ttl=1h',
        '--max-ttl=2h',
      ]);
    });
    after(async () => {
      await node?.destroy();
      await database?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('secrets rotate with the random rotator: a new current value, the old one kept as previous', async () => {
      await ok(
        ['secrets', 'create', 'app/token', '--data-file=-', '--rotator=random', '--rotator-length=40'],
        'v1',
      );
      const rotated = JSON.parse((await ok(['secrets', 'rotate', 'app/token', '--format=json'])).stdout) as {
        version: number;
        rotationStatus: { state: string; lastSuccessTime: string | null };
      };
      assert.equal(rotated.version, 2);
      assert.equal(rotated.rotationStatus.state, 'idle');
      assert.notEqual(rotated.rotationStatus.lastSuccessTime, null);
      const [current, previous] = await Promise.all([
        ok(['secrets', 'versions', 'access', '--secret=app/token', '--stage=current']),
        ok(['secrets', 'versions', 'access', '--secret=app/token', '--stage=previous']),
      ]);
      assert.match(current.stdout, /^[A-Za-z0-9]{40}$/);
      assert.equal(previous.stdout, 'v1');
      // A schedule added later keeps the rotator (the CLI sends the whole rotation back, with the etag).
      await ok(['secrets', 'update', 'app/token', '--rotation-period=86400s']);
      const described = JSON.parse(
        (await ok(['secrets', 'describe', 'app/token', '--format=json'])).stdout,
      ) as {
        rotation: { period: string; rotator: { type: string; length: number } };
      };
      assert.equal(described.rotation.period, '86400s');
      assert.deepEqual(described.rotation.rotator, { type: 'random', length: 40 });
    });

    test('db issue --json: a login that works, its lease, and leases revoke drops it', async () => {
      const issuedRun = await ok(['db', 'issue', 'app', 'rw', '--ttl=15m', '--json']);
      const issued = JSON.parse(issuedRun.stdout) as IssuedCredentialView;
      assert.ok(!issuedRun.stderr.includes(issued.password));
      assert.match(issued.lease.id, /^l-[a-z2-7]{26}$/);
      assert.equal(issued.lease.ttl, 900);
      assert.equal(await canLogin(issued.username, issued.password), true);
      assert.equal(await canLogin(issued.username, 'not-the-password'), false);
      const lease = JSON.parse(
        (await ok(['leases', 'get', issued.lease.id, '--format=json'])).stdout,
      ) as LeaseView;
      assert.equal(lease.state, 'active');
      assert.equal(lease.username, issued.username);
      const listed = JSON.parse(
        (await ok(['leases', 'list', 'app', '--role=rw', '--format=json'])).stdout,
      ) as LeaseView[];
      assert.ok(listed.some((l) => l.id === issued.lease.id));
      const revoked = JSON.parse(
        (await ok(['leases', 'revoke', issued.lease.id, '--format=json'])).stdout,
      ) as LeaseView;
      assert.equal(revoked.state, 'revoked');
      assert.equal(await roleExists(issued.username), false);
      // For people: the password on stdout only, the revoke hint (lease id) on stderr.
      const text = await ok(['db', 'issue', 'app/rw']);
      const password = /^password: (.+)$/m.exec(text.stdout)?.[1];
      const id = /^lease: (l-\S+)$/m.exec(text.stdout)?.[1];
      assert.ok(password && id, text.stdout);
      assert.ok(!text.stderr.includes(password));
      assert.match(text.stderr, new RegExp(`coffer leases revoke ${id}`));
      await ok(['leases', 'revoke', id]);
    });

    test('db list and role list, leases renew, delete refused while leases live, revoke-prefix', async () => {
      await ok([
        'db',
        'role',
        'put',
        'app/bulk',
        `--creation-statement=${creation}`,
        '--default-ttl=1h',
        '--max-ttl=2h',
      ]);
      const [dbs, roles] = await Promise.all([
        ok(['db', 'list', '--format=json']),
        ok(['db', 'role', 'list', 'app']),
      ]);
      assert.deepEqual(
        (JSON.parse(dbs.stdout) as Array<{ id: string; adminSecret: string }>).map((d) => [
          d.id,
          d.adminSecret,
        ]),
        [['app', 'db/admin']],
      );
      assert.match(roles.stdout, /^bulk\s+3600s\s+7200s\s+true$/m);
      const issued = JSON.parse(
        (await ok(['db', 'issue', 'app/bulk', '--ttl=10m', '--json'])).stdout,
      ) as IssuedCredentialView;
      const renewed = JSON.parse(
        (await ok(['leases', 'renew', issued.lease.id, '--increment=30m', '--format=json'])).stdout,
      ) as LeaseView;
      assert.ok(Date.parse(renewed.expireTime) > Date.parse(issued.lease.expireTime));
      const refused = await runCoffer(['db', 'delete', 'app'], env);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /HTTP 409/);
      const bulk = await ok(['leases', 'revoke-prefix', 'app', '--role=bulk', '--format=json']);
      assert.deepEqual(JSON.parse(bulk.stdout), { revoked: 1 });
      const deadline = Date.now() + 15_000;
      while ((await roleExists(issued.username)) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(await roleExists(issued.username), false, 'the expiry job revoked it');
    });

    test('run --db-role: the command logs in with PG* variables; on SIGTERM it gets the signal, its exit code comes back, the lease is revoked', async () => {
      const child = [
        'const pg = require("pg");',
        'const c = new pg.Client();',
        'process.on("SIGTERM", () => c.end().then(() => process.exit(3)));',
        'c.connect().then(() => c.query("SELECT current_user AS u, current_database() AS d"))',
        '.then((r) => process.stdout.write(JSON.stringify([r.rows[0].u, r.rows[0].d, process.env.PGUSER]) + "\\n"))',
        '.catch((e) => { console.error(e.message); process.exit(9); }); setInterval(() => {}, 1000);',
      ].join(' ');
      const run = spawn(
        process.execPath,
        [cofferBin, 'run', '--db-role=app/rw', '--', process.execPath, '-e', child],
        {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      run.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      run.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const closed = once(run, 'close');
      const deadline = Date.now() + 30_000;
      while (!stdout.includes('\n') && run.exitCode === null && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      const [user, db, pgUser] = JSON.parse(stdout) as [string, string, string];
      assert.equal(await roleExists(user), true, 'the login exists while the command runs');
      run.kill('SIGTERM');
      const [code] = (await closed) as [number | null];
      assert.equal(code, 3, stderr);
      assert.equal(db, database.name);
      assert.equal(user, pgUser);
      assert.match(user, /^v-/);
      assert.equal(stderr, '');
      assert.equal(await roleExists(user), false, 'revoked when the command exited');
    });

    test('a service account bound as databaseCredentialUser on one role: run --db-role gets its login (no connection details), nothing more', async () => {
      const account = JSON.parse(
        (await ok(['service-accounts', 'create', 'cli-db-user', '--format=json'])).stdout,
      ) as { email: string };
      await ok([
        'db',
        'role',
        'add-iam-policy-binding',
        'app/rw',
        `--member=serviceAccount:${account.email}`,
        '--role=roles/secretsmanager.databaseCredentialUser',
      ]);
      const token = (
        await ok(['service-accounts', 'tokens', 'create', account.email, '--ttl=600s'])
      ).stdout.trim();
      const asApp = { ...env, COFFER_TOKEN: token, PGHOST: 'unchanged' };
      const child =
        'const e = process.env; process.stdout.write(JSON.stringify([e.PGUSER, e.PGPASSWORD.length, e.PGHOST]))';
      const result = await runCoffer(['run', '--db-role=app/rw', '--', process.execPath, '-e', child], asApp);
      assert.equal(result.code, 0, result.stderr);
      const [user, passwordLength, host] = JSON.parse(result.stdout) as [string, number, string];
      assert.ok(passwordLength >= 16);
      assert.equal(host, 'unchanged');
      assert.match(
        result.stderr,
        /cannot read database connection app \(permission_denied\); PGHOST, PGPORT and PGDATABASE are not set/,
      );
      assert.equal(await roleExists(user), false, 'its own lease, revoked when the command exited');
      const [otherRole, leases, database] = await Promise.all([
        runCoffer(['db', 'issue', 'app/bulk'], asApp),
        runCoffer(['leases', 'list', 'app'], asApp),
        runCoffer(['db', 'get', 'app'], asApp),
      ]);
      for (const refused of [otherRole, leases, database]) {
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /permission_denied, HTTP 403/);
      }
    });

    test("run --db-role: a revocation that fails is reported on stderr with the lease id (never the password), and the exit code stays the command's", async () => {
      const proxy = await startTcpProxy('127.0.0.1', Number(new URL(node.url).port));
      const marker = join(dir, 'cut');
      const child = [
        'const e = process.env; process.stdout.write(JSON.stringify([e.PGUSER, e.PGPASSWORD]) + "\\n");',
        `const t = setInterval(() => { if (require("node:fs").existsSync(${JSON.stringify(marker)})) { clearInterval(t); process.exit(5); } }, 20);`,
      ].join(' ');
      const run = spawn(
        process.execPath,
        [cofferBin, 'run', '--db-role=app/rw', '--', process.execPath, '-e', child],
        {
          env: { ...process.env, ...env, COFFER_ADDR: `http://127.0.0.1:${proxy.port}` },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      run.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      run.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const closed = once(run, 'close');
      try {
        const deadline = Date.now() + 30_000;
        while (!stdout.includes('\n') && run.exitCode === null && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 20));
        await proxy.cut();
        writeFileSync(marker, '');
        const [code] = (await closed) as [number | null];
        const [user, password] = JSON.parse(stdout) as [string, string];
        assert.equal(code, 5, stderr);
        const leaseId = /revoking lease (l-[a-z2-7]{26}) failed: .*it expires at/.exec(stderr)?.[1];
        assert.ok(leaseId, stderr);
        assert.ok(!stderr.includes(password));
        assert.equal(await roleExists(user), true, 'not revoked: the server was unreachable');
        const admin = new CofferClient({ address: node.url, token: node.adminToken });
        assert.equal((await admin.leases.revoke(leaseId)).state, 'revoked');
        assert.equal(await roleExists(user), false);
      } finally {
        run.kill('SIGKILL');
        await proxy.close();
      }
    });

    test('run --db-role renews a short lease while the command runs: its session outlives the first TTL', async () => {
      await ok([
        'db',
        'role',
        'put',
        'app',
        'short',
        `--creation-statement=${creation}`,
        '--default-ttl=6s',
        '--max-ttl=1h',
      ]);
      // Renewed at 4 s (2/3 of 6 s); without it the expiry job would end the session at 6 s. The
      // variables come with another prefix, which the command maps to node-postgres's own.
      const child = [
        'const e = process.env; const pg = require("pg");',
        'const c = new pg.Client({ user: e.APP_DB_USER, password: e.APP_DB_PASSWORD, host: e.APP_DB_HOST, port: Number(e.APP_DB_PORT), database: e.APP_DB_DATABASE });',
        'const until = () => c.query("SELECT rolvaliduntil AS v FROM pg_roles WHERE rolname = current_user").then((r) => r.rows[0].v.getTime());',
        'c.connect().then(until).then((first) => new Promise((ok) => setTimeout(ok, 7000)).then(until).then((second) => {',
        '  process.stdout.write(JSON.stringify([e.APP_DB_USER, e.PGUSER ?? null, first, second])); return c.end(); }))',
        '.catch((err) => { console.error(err.message); process.exit(9); });',
      ].join(' ');
      const result = await runCoffer(
        ['run', '--db-role=app/short', '--db-env-prefix=APP_DB_', '--', process.execPath, '-e', child],
        { ...env, PGUSER: '' },
      );
      assert.equal(result.code, 0, result.stderr);
      const [user, pgUser, first, second] = JSON.parse(result.stdout) as [
        string,
        string | null,
        number,
        number,
      ];
      assert.equal(pgUser, '', 'PGUSER is left alone with another prefix');
      assert.ok(second > first, 'the renewal moved VALID UNTIL');
      assert.equal(await roleExists(user), false);
    });
  },
);
