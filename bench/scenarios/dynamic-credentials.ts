import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { type CofferServer, startCoffer } from '../lib/coffer-server.ts';
import { pooled } from '../lib/pooled.ts';
import { benchPostgresUrl, withClient } from '../lib/postgres.ts';
import { percentile } from '../lib/stats.ts';
import { fmt, markdownTable } from '../lib/table.ts';
import { runWrk, type WrkResult } from '../lib/wrk.ts';
import { agentProject, valueRoute } from './agent-setup.ts';
import type { Scenario, ScenarioContext } from './scenario.ts';

const cycles = Number(process.env.COFFER_BENCH_DYN_CYCLES ?? 100);
const expiring = Number(process.env.COFFER_BENCH_DYN_EXPIRING ?? 1000);
/** Requests in flight while issuing and revoking (one client, several callers). */
const inFlight = Number(process.env.COFFER_BENCH_DYN_CONCURRENCY ?? 8);
/** The PostgreSQL server credentials are issued on (a superuser: it creates a database). */
const postgresUrl = benchPostgresUrl;
/** wrk window while measuring reads (seconds): short, so the windows follow the revocation. */
const windowSeconds = 2;
/** How long the expiry may take before the scenario gives up (the target is 60 s). */
const giveUpMs = 180_000;

const verdict = (met: boolean) => (met ? 'met' : 'NOT MET');

interface Issued {
  readonly username: string;
  readonly password: string;
  readonly lease: { readonly id: string; readonly expireTime: string };
}

/** Issued roles of the bench role still on the server. */
async function rolesLeft(url: string, prefix: string): Promise<number> {
  return withClient(url, async (client) => {
    const result = await client.query(
      `SELECT count(*)::int AS n FROM pg_roles WHERE starts_with(rolname, $1)`,
      [prefix],
    );
    return Number((result.rows[0] as { n: number }).n);
  });
}

/**
 * Issue 15's dynamic-credential targets, against PostgreSQL on this machine (a fresh database on
 * `COFFER_BENCH_POSTGRES_URL`, default the local server as postgres):
 * 1. issue + login + revoke of 100 credentials (8 requests in flight): issues/s against ≥ 50/s;
 * 2. 1,000 leases issued so that they all expire within the same second; from that second, the
 *    time until every issued role is gone from the server (≤ 60 s) while wrk reads a secret value
 *    (getSecretValue, a service account's token) in 2 s windows: the read rate during the
 *    revocations ÷ the rate in the windows just before (≥ 0.9).
 * The server runs on the server CPU (SQLite storage, default `databases.revokeConcurrency` 4 and
 * `revokeRatePerSecond` 30, expiry polled every second), wrk on the load CPU; the issuing client is this process.
 */
export const dynamicCredentialsScenario: Scenario = {
  name: 'dynamic-credentials',
  description:
    'dynamic PostgreSQL credentials: issue+login+revoke of 100 (issues/s), 1,000 leases expiring at once (time to drop, read rate meanwhile)',
  inDefaultRun: false,
  defaultConnections: [64],
  async run(ctx: ScenarioContext): Promise<string> {
    const dbName = `coffer_bench_${randomBytes(5).toString('hex')}`;
    await withClient(postgresUrl, (client) => client.query(`CREATE DATABASE ${dbName}`));
    const targetUrl = new URL(postgresUrl);
    targetUrl.pathname = `/${dbName}`;
    const server = await startCoffer({
      repoDir: ctx.repoDir,
      workDir: ctx.workDir,
      serverCpu: ctx.serverCpu,
    });
    try {
      return await measure(ctx, server, targetUrl, dbName);
    } finally {
      await server.stop();
      await withClient(postgresUrl, async (client) => {
        // Roles are server-wide: drop what a failed run left behind, then the database.
        const left = await client.query(
          `SELECT rolname FROM pg_roles WHERE starts_with(rolname, 'v-bench-')`,
        );
        for (const row of left.rows as { rolname: string }[])
          await client
            .query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(row.rolname)}`)
            .catch(() => undefined);
        await client.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      });
    }
  },
};

async function measure(ctx: ScenarioContext, server: CofferServer, targetUrl: URL, dbName: string) {
  const project = await agentProject(server, ['bench/read']);
  const databases = `${project.instancePath}/databases`;
  await server.call(
    'POST',
    `${project.instancePath}/secrets`,
    {
      path: 'bench/pg-admin',
      value: JSON.stringify({
        host: targetUrl.hostname,
        port: Number(targetUrl.port || 5432),
        database: dbName,
        username: decodeURIComponent(targetUrl.username),
        password: decodeURIComponent(targetUrl.password),
      }),
    },
    201,
  );
  await server.call(
    'POST',
    databases,
    {
      name: 'bench',
      host: targetUrl.hostname,
      port: Number(targetUrl.port || 5432),
      database: dbName,
      adminSecret: 'bench/pg-admin',
      maxOpenConnections: 8,
    },
    201,
  );
  // A role PUT answers 201 when it creates the role (200 when it replaces one).
  const put = await fetch(`${server.baseUrl}${databases}/bench/roles/bench`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      creationStatements: ['CREATE ROLE {{name}} LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}'],
      defaultTtl: '1h',
      maxTtl: '24h',
    }),
  });
  if (put.status !== 200 && put.status !== 201)
    throw new Error(`PUT role answered ${put.status}: ${await put.text()}`);
  const issuePath = `${databases}/bench/roles/bench/issue`;
  const issue = (ttl?: string) => server.call<Issued>('POST', issuePath, ttl === undefined ? {} : { ttl });
  const login = (credential: Issued) => {
    const url = new URL(targetUrl);
    url.username = encodeURIComponent(credential.username);
    url.password = encodeURIComponent(credential.password);
    return withClient(url.toString(), (client) => client.query('SELECT 1'));
  };
  const revoke = (credential: Issued) => server.call('POST', `/v2/leases/${credential.lease.id}/revoke`, {});

  // 1. Issue + login + revoke.
  const credentials: Issued[] = [];
  const t0 = performance.now();
  const issueTimes = await pooled(cycles, inFlight, async () => {
    credentials.push(await issue());
  });
  const issueSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  await pooled(cycles, inFlight, (i) => login(credentials[i]!).then(() => undefined));
  const loginSeconds = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  const revokeTimes = await pooled(cycles, inFlight, (i) => revoke(credentials[i]!).then(() => undefined));
  const revokeSeconds = (performance.now() - t2) / 1000;
  const refused = (
    await Promise.allSettled(credentials.slice(0, 10).map((credential) => login(credential)))
  ).filter((r) => r.status === 'rejected').length;
  const issuesPerSecond = cycles / issueSeconds;
  ctx.log(
    `  ${cycles} issued in ${fmt(issueSeconds, 2)} s, logged in, revoked in ${fmt(revokeSeconds, 2)} s`,
  );

  // 2. 1,000 leases that expire in the same second.
  const prefix = 'v-bench-';
  const baselineWindows = 3;
  const margin = 2 + baselineWindows * (windowSeconds + 1);
  const issueBudgetMs = (expiring / Math.max(issuesPerSecond, 1)) * 1.5 * 1000;
  const expireAtMs = Math.ceil((Date.now() + issueBudgetMs + margin * 1000) / 1000) * 1000;
  const t3 = performance.now();
  await pooled(expiring, inFlight, async () => {
    const ttl = Math.ceil((expireAtMs - Date.now()) / 1000);
    if (ttl < margin) throw new Error(`issuing ${expiring} leases is slower than planned (ttl ${ttl}s left)`);
    const credential = await issue(`${ttl}s`);
    const expires = Date.parse(credential.lease.expireTime);
    if (Math.abs(expires - expireAtMs) > 1500)
      throw new Error(
        `lease ${credential.lease.id} expires at ${credential.lease.expireTime}, not with the others`,
      );
  });
  const bulkIssueSeconds = (performance.now() - t3) / 1000;
  const issuedRoles = await rolesLeft(targetUrl.toString(), prefix);
  ctx.log(`  ${expiring} leases issued in ${fmt(bulkIssueSeconds, 1)} s; ${issuedRoles} roles on the server`);

  const read = {
    method: 'GET' as const,
    path: valueRoute(project, 'bench/read'),
    headers: { authorization: `Bearer ${project.accountToken}` },
  };
  const window = () =>
    runWrk({
      baseUrl: server.baseUrl,
      request: read,
      connections: Math.max(...ctx.connections),
      durationSeconds: windowSeconds,
      loadCpu: ctx.loadCpu,
      workDir: ctx.workDir,
    });
  await window(); // warm-up
  const before: WrkResult[] = [];
  while (before.length < baselineWindows && Date.now() + (windowSeconds + 1) * 1000 < expireAtMs)
    before.push(await window());
  await delay(Math.max(0, expireAtMs - Date.now()));

  // From the expiry second: wrk windows back to back, roles counted between them and every 250 ms.
  const expiredAt = Date.now();
  let goneAtMs: number | undefined;
  const left: { atMs: number; roles: number }[] = [];
  const watcher = (async () => {
    while (goneAtMs === undefined && Date.now() - expiredAt < giveUpMs) {
      const roles = await rolesLeft(targetUrl.toString(), prefix);
      left.push({ atMs: Date.now() - expiredAt, roles });
      if (roles === 0) goneAtMs = Date.now() - expiredAt;
      else await delay(250);
    }
  })();
  const during: WrkResult[] = [];
  while (goneAtMs === undefined && Date.now() - expiredAt < giveUpMs) during.push(await window());
  await watcher;

  const rate = (runs: readonly WrkResult[]) =>
    runs.reduce((sum, r) => sum + r.requests, 0) / (runs.reduce((sum, r) => sum + r.durationUs, 0) / 1e6);
  const errorsOf = (runs: readonly WrkResult[]) =>
    runs.reduce((sum, r) => sum + r.errors.status + r.errors.timeout + r.errors.connect, 0);
  const beforeRate = rate(before);
  const duringRate = during.length > 0 ? rate(during) : Number.NaN;
  const ratio = duringRate / beforeRate;
  const q = (values: number[], p: number) => fmt(percentile(values, p), 1);
  const samples = left.filter(
    (_, i) => i % Math.max(1, Math.floor(left.length / 8)) === 0 || i === left.length - 1,
  );
  return [
    `server on CPU ${ctx.serverCpu} (SQLite storage, revokeConcurrency 4, revokeRatePerSecond 30, expiry polled every 1 s), wrk -c${Math.max(...ctx.connections)} on CPU ${ctx.loadCpu}; ` +
      `PostgreSQL ${targetUrl.host} (database ${dbName}); ${inFlight} issue/revoke requests in flight from the bench process`,
    '',
    markdownTable(
      [
        { header: 'step' },
        { header: 'n', right: true },
        { header: 'per s', right: true },
        { header: 'p50 ms', right: true },
        { header: 'p99 ms', right: true },
      ],
      [
        ['issue', String(cycles), fmt(issuesPerSecond, 1), q(issueTimes, 0.5), q(issueTimes, 0.99)],
        ['login (pg, SELECT 1)', String(cycles), fmt(cycles / loginSeconds, 1), '', ''],
        ['revoke', String(cycles), fmt(cycles / revokeSeconds, 1), q(revokeTimes, 0.5), q(revokeTimes, 0.99)],
      ],
    ),
    '',
    `issues/s: ${fmt(issuesPerSecond, 1)} (target ≥ 50): ${verdict(issuesPerSecond >= 50)}; ` +
      `issue+login+revoke of ${cycles}: ${fmt(issueSeconds + loginSeconds + revokeSeconds, 2)} s; ` +
      `logins refused after revoke: ${refused} of 10 (${verdict(refused === 10)})`,
    `${expiring} leases issued in ${fmt(bulkIssueSeconds, 1)} s, all expiring at ${new Date(expireAtMs).toISOString()}; ` +
      `roles left after the expiry (ms: count): ${samples.map((l) => `${l.atMs}: ${l.roles}`).join(', ')}`,
    goneAtMs === undefined
      ? `NOT every role was dropped within ${giveUpMs / 1000} s (${left.at(-1)?.roles ?? '?'} left): NOT MET`
      : `every role gone ${fmt(goneAtMs / 1000, 1)} s after the expiry (target ≤ 60 s): ${verdict(goneAtMs <= 60_000)}`,
    `getSecretValue: ${fmt(beforeRate)} req/s before (${before.length} × ${windowSeconds} s), ${fmt(duringRate)} req/s during ` +
      `the revocations (${during.length} × ${windowSeconds} s): ratio ${fmt(ratio, 3)} (target ≥ 0.9): ${verdict(ratio >= 0.9)}; ` +
      `errors ${errorsOf(before)} before, ${errorsOf(during)} during`,
  ].join('\n');
}
