import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type CofferServer, startCoffer } from '../lib/coffer-server.ts';
import { pooled } from '../lib/pooled.ts';
import { benchPostgresUrl, withClient } from '../lib/postgres.ts';
import { percentile } from '../lib/stats.ts';
import { fmt } from '../lib/table.ts';
import { secretUrl } from './secrets-setup.ts';
import type { Scenario, ScenarioContext } from './scenario.ts';

/** Secrets rotated (each with its own pair of login roles). */
const count = Number(process.env.COFFER_BENCH_ROTATION_SECRETS ?? 100);
/** Rotations in flight (one client, several callers). */
const inFlight = Number(process.env.COFFER_BENCH_ROTATION_CONCURRENCY ?? 8);
/** Secrets rotated a second time, to show the first-ever password stops working. */
const secondSample = Math.min(count, Number(process.env.COFFER_BENCH_ROTATION_SECOND ?? 10));
/** The PostgreSQL server the roles live on (a superuser: it creates a database and roles). */
const postgresUrl = benchPostgresUrl;
/** The NOLOGIN role whose members must log in with their password (see test/support/postgres-roles.ts). */
const passwordAuthGroup = 'coffer_password_auth';

const verdict = (met: boolean) => (met ? 'met' : 'NOT MET');

/** A rotated secret's value: connection JSON of one login role. */
interface Credential {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly username: string;
  readonly password: string;
}

/** True when the credential logs in (password checked: every role is in `coffer_password_auth`). */
async function canLogin(credential: Credential): Promise<boolean> {
  const client = new pg.Client({
    host: credential.host,
    port: credential.port,
    database: credential.database,
    user: credential.username,
    password: credential.password,
    connectionTimeoutMillis: 5000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Issue 15's rotation target, against PostgreSQL on this machine: 100 secrets, each with the
 * `postgresql` rotator (`alternate-users`, its own two login roles, an admin with CREATEROLE and
 * ADMIN OPTION on them), rotated once through `POST …/rotate` with 8 in flight. Checks that every
 * secret was rotated exactly once (two versions, current = new, previous = the initial value), that
 * every new credential and every previous credential logs in (every role is a member of
 * `coffer_password_auth`, so passwords are really checked), and that after a second rotation of a
 * sample the first-ever password is refused. Roles and the database are dropped at the end.
 */
export const rotationScenario: Scenario = {
  name: 'rotation',
  description:
    'postgresql rotator (alternate-users): 100 secrets rotated once (rotations/s, p50/p99), new and previous credentials log in',
  inDefaultRun: false,
  async run(ctx: ScenarioContext): Promise<string> {
    const run = randomBytes(3).toString('hex');
    const prefix = `cr_${run}_`;
    const dbName = `coffer_bench_rot_${run}`;
    await withClient(postgresUrl, async (client) => {
      const group = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [passwordAuthGroup]);
      if (group.rowCount !== 1)
        throw new Error(
          `role ${passwordAuthGroup} is missing: run .ci/postgres-password-auth.sql as a superuser first`,
        );
      await client.query(`CREATE DATABASE ${dbName}`);
    });
    let server: CofferServer | undefined;
    try {
      server = await startCoffer({ repoDir: ctx.repoDir, workDir: ctx.workDir, serverCpu: ctx.serverCpu });
      return await measure(ctx, server, prefix, dbName);
    } finally {
      await server?.stop();
      await withClient(postgresUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        const left = await client.query(`SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`, [
          prefix,
        ]);
        for (const row of left.rows as { rolname: string }[])
          await client
            .query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(row.rolname)}`)
            .catch(() => undefined);
      });
    }
  },
};

/** Creates the admin and the 2 × `count` roles; returns the admin's and each pair's first credentials. */
async function createRoles(target: Omit<Credential, 'username' | 'password'>, prefix: string) {
  const password = () => randomBytes(18).toString('base64url');
  const admin = { ...target, username: `${prefix}admin`, password: password() };
  const pairs = Array.from({ length: count }, (_, i) => ({
    a: { ...target, username: `${prefix}${i}_a`, password: password() },
    b: { ...target, username: `${prefix}${i}_b`, password: password() },
  }));
  await withClient(postgresUrl, async (client) => {
    const create = (c: Credential, extra: string) =>
      client.query(
        `CREATE ROLE ${pg.escapeIdentifier(c.username)} LOGIN ${extra} PASSWORD ${pg.escapeLiteral(c.password)} IN ROLE ${passwordAuthGroup}`,
      );
    await create(admin, 'CREATEROLE');
    for (const pair of pairs) {
      await create(pair.a, '');
      await create(pair.b, '');
    }
    // On PostgreSQL 16+ CREATEROLE alone may not alter roles it did not create.
    const names = pairs.flatMap((p) => [p.a.username, p.b.username]).map((n) => pg.escapeIdentifier(n));
    await client.query(
      `GRANT ${names.join(', ')} TO ${pg.escapeIdentifier(admin.username)} WITH ADMIN OPTION`,
    );
  });
  return { admin, pairs };
}

async function measure(ctx: ScenarioContext, server: CofferServer, prefix: string, dbName: string) {
  const url = new URL(postgresUrl);
  const target = { host: url.hostname, port: Number(url.port || 5432), database: dbName };
  const t0 = performance.now();
  const { admin, pairs } = await createRoles(target, prefix);
  // "Works" must mean the password was checked: a wrong one has to be refused.
  if (await canLogin({ ...pairs[0]!.a, password: 'not-the-password' }))
    throw new Error(
      `PostgreSQL at ${url.host} does not check passwords of ${passwordAuthGroup} members (run .ci/postgres-password-auth.sql)`,
    );
  await pooled(count, inFlight, async (i) => {
    if (!(await canLogin(pairs[i]!.a))) throw new Error(`initial credential of role ${i} a does not log in`);
  });

  const project = await server.call<{ id: string }>('POST', '/v2/projects', {}, 201);
  const instance = await server.call<{ id: string }>(
    'POST',
    `/v2/projects/${project.id}/regions/local/instances`,
    { name: 'rotation-bench' },
    201,
  );
  const instancePath = `/v2/projects/${project.id}/regions/local/instances/${instance.id}`;
  const value = { sslmode: 'disable' };
  await server.call(
    'POST',
    `${instancePath}/secrets`,
    { path: 'bench/pg-admin', value: JSON.stringify({ ...admin, ...value }) },
    201,
  );
  const path = (i: number) => `bench/app-${i}`;
  const secret = (i: number) => secretUrl(instancePath, path(i));
  await pooled(count, inFlight, async (i) => {
    await server.call(
      'POST',
      `${instancePath}/secrets`,
      {
        path: path(i),
        value: JSON.stringify({ ...pairs[i]!.a, ...value }),
        rotation: {
          rotator: {
            type: 'postgresql',
            connectionSecret: 'bench/pg-admin',
            strategy: 'alternate-users',
            usernames: [pairs[i]!.a.username, pairs[i]!.b.username],
          },
        },
      },
      201,
    );
  });
  const setupSeconds = (performance.now() - t0) / 1000;
  ctx.log(`  ${count * 2 + 1} roles, ${count + 1} secrets set up in ${fmt(setupSeconds, 1)} s`);

  // The measured part: one rotation of every secret.
  const failures: string[] = [];
  const tRotate = performance.now();
  const rotateTimes = await pooled(count, inFlight, async (i) => {
    const res = await fetch(`${server.baseUrl}${secret(i)}/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    if (res.status !== 200) failures.push(`${path(i)}: ${res.status} ${await res.text()}`);
    else await res.arrayBuffer();
  });
  const rotateSeconds = (performance.now() - tRotate) / 1000;
  const perSecond = count / rotateSeconds;
  ctx.log(`  ${count} rotations in ${fmt(rotateSeconds, 2)} s (${failures.length} failed)`);

  // Exactly once: two versions, current the new one (v2), previous the initial one (v1).
  const read = (i: number, stage: string) =>
    server.call<{ value: string; version: number }>('GET', `${secret(i)}/value?stage=${stage}`);
  const current: Credential[] = [];
  const previous: Credential[] = [];
  let onceOk = 0;
  const onceBad: string[] = [];
  await pooled(count, inFlight, async (i) => {
    const versions = await server.call<{ items: { version: number; stages: string[] }[] }>(
      'GET',
      `${secret(i)}/versions`,
    );
    const stages = await server.call<{ items: { stage: string; version: number }[] }>(
      'GET',
      `${secret(i)}/stages`,
    );
    const stageOf = (s: string) => stages.items.find((x) => x.stage === s)?.version;
    const now = await read(i, 'current');
    const before = await read(i, 'previous');
    current[i] = JSON.parse(now.value) as Credential;
    previous[i] = JSON.parse(before.value) as Credential;
    const ok =
      versions.items.length === 2 &&
      stageOf('current') === 2 &&
      stageOf('previous') === 1 &&
      stageOf('pending') === undefined &&
      current[i].username === pairs[i]!.b.username &&
      current[i].password !== pairs[i]!.b.password &&
      previous[i].username === pairs[i]!.a.username &&
      previous[i].password === pairs[i]!.a.password;
    if (ok) onceOk++;
    else onceBad.push(path(i));
  });

  // Real logins: the new credential, then the previous one.
  let newOk = 0;
  let prevOk = 0;
  let oldBRefused = 0;
  const tLogin = performance.now();
  await pooled(count, inFlight, async (i) => {
    if (await canLogin(current[i]!)) newOk++;
    if (await canLogin(previous[i]!)) prevOk++;
    // b's initial password was replaced: it must be refused now.
    if (!(await canLogin(pairs[i]!.b))) oldBRefused++;
  });
  const loginSeconds = (performance.now() - tLogin) / 1000;

  // A second rotation of a sample: the first-ever password (user a's initial one) stops working,
  // while the credential that was current (user b's) keeps working.
  let secondOk = 0;
  let firstRefused = 0;
  let bStillOk = 0;
  await pooled(secondSample, inFlight, async (i) => {
    await server.call('POST', `${secret(i)}/rotate`, {});
    const now = JSON.parse((await read(i, 'current')).value) as Credential;
    if (now.username === pairs[i]!.a.username && (await canLogin(now))) secondOk++;
    if (!(await canLogin(pairs[i]!.a))) firstRefused++;
    if (await canLogin(current[i]!)) bStillOk++;
  });

  const q = (values: number[], p: number) => fmt(percentile(values, p), 1);
  const allRotated = failures.length === 0 && onceOk === count;
  const lines = [
    `server on CPU ${ctx.serverCpu} (SQLite storage); PostgreSQL ${url.host} (database ${dbName}, ` +
      `${count * 2} login roles + an admin with CREATEROLE and ADMIN OPTION, all in ${passwordAuthGroup}: passwords checked); ` +
      `${inFlight} POST …/rotate in flight from the bench process; setup ${fmt(setupSeconds, 1)} s`,
    '',
    `rotations: ${count} in ${fmt(rotateSeconds, 2)} s = ${fmt(perSecond, 1)} rotations/s; ` +
      `per rotation p50 ${q(rotateTimes, 0.5)} ms, p99 ${q(rotateTimes, 0.99)} ms, max ${q(rotateTimes, 1)} ms; ` +
      `failed: ${failures.length}${failures.length > 0 ? ` (first: ${failures[0]})` : ''}`,
    `rotated exactly once (2 versions, current=v2 new user b, previous=v1 the initial value, no pending): ` +
      `${onceOk} of ${count}${onceBad.length > 0 ? ` (not: ${onceBad.slice(0, 5).join(', ')})` : ''}`,
    `logins (${fmt(loginSeconds, 2)} s for ${count * 3}): new credential ${newOk} of ${count}, previous credential ${prevOk} of ${count}, ` +
      `b's replaced initial password refused ${oldBRefused} of ${count}`,
    `second rotation of ${secondSample}: new user a logs in ${secondOk} of ${secondSample}, ` +
      `first-ever password refused ${firstRefused} of ${secondSample}, the previous (b) still logs in ${bStillOk} of ${secondSample}`,
    '',
    `every one of ${count} rotated once: ${verdict(allRotated)}`,
    `every new password works: ${verdict(allRotated && newOk === count && oldBRefused === count)}`,
    `every previous one still works until the next rotation: ${verdict(
      allRotated &&
        prevOk === count &&
        firstRefused === secondSample &&
        bStillOk === secondSample &&
        secondOk === secondSample,
    )}`,
  ];
  return lines.join('\n');
}
