import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { type CofferServer, startCoffer } from '../lib/coffer-server.ts';
import type { RunRecord, Target } from '../lib/measure.ts';
import { freePort, startPinned, waitForOk } from '../lib/server-process.ts';
import { median } from '../lib/stats.ts';
import { fmt, markdownTable } from '../lib/table.ts';
import type { RequestSpec } from '../lib/wrk.ts';
import { profileAws } from './aws-profile.ts';
import type { PreparedScenario, Scenario, ScenarioContext } from './scenario.ts';

/** Secrets the reads spread over (each signed request names one). */
const secretCount = 200;
const region = 'us-east-1';
/** The static pair of Coffer's AWS test mode (COFFER_AWS_TEST_*) and of moto (which checks none). */
const credentials = { accessKeyId: 'AKIABENCHBENCHBENCH2', secretAccessKey: 'b'.repeat(40) };
const accountId = '123456789012';
const names = {
  native: 'getSecretValue (/v2)',
  aws: 'GetSecretValue (AWS face)',
  moto: 'moto GetSecretValue',
};

const signer = new SignatureV4({
  credentials,
  region,
  service: 'secretsmanager',
  sha256: Hash.bind(null, 'sha256'),
});

/**
 * GetSecretValue requests signed once per secret (SigV4 over each body, X-Amz-Date now: valid for
 * the server's ±5 min window, longer than one scenario's rounds at one concurrency), as variants
 * wrk picks at random. The server verifies every signature as usual: replays within the window are
 * accepted by AWS too.
 */
async function signedGets(baseUrl: string, secretNames: readonly string[]): Promise<RequestSpec> {
  const url = new URL(baseUrl);
  const variants = await Promise.all(
    secretNames.map(async (name) => {
      const body = JSON.stringify({ SecretId: name });
      const signed = await signer.sign({
        method: 'POST',
        protocol: 'http:',
        hostname: url.hostname,
        port: Number(url.port),
        path: '/',
        query: {},
        headers: {
          Host: url.host,
          'Content-Type': 'application/x-amz-json-1.1',
          'X-Amz-Target': 'secretsmanager.GetSecretValue',
        },
        body,
      });
      return { body, headers: signed.headers as Record<string, string> };
    }),
  );
  return { method: 'POST', path: '/', headers: variants[0]!.headers, body: variants[0]!.body, variants };
}

async function createSecrets(endpoint: string): Promise<string[]> {
  const client = new SecretsManagerClient({ endpoint, region, credentials, maxAttempts: 1 });
  const secretNames = Array.from(
    { length: secretCount },
    (_, i) => `bench/aws-${String(i).padStart(4, '0')}`,
  );
  for (let i = 0; i < secretNames.length; i += 16)
    await Promise.all(
      secretNames
        .slice(i, i + 16)
        .map((Name) => client.send(new CreateSecretCommand({ Name, SecretString: `value-of-${Name}` }))),
    );
  client.destroy();
  return secretNames;
}

/** Coffer in AWS test mode (the bench's static key pair, any region), with node flags for profiles. */
function startAwsCoffer(ctx: ScenarioContext, nodeFlags: readonly string[] = []): Promise<CofferServer> {
  return startCoffer({
    repoDir: ctx.repoDir,
    workDir: ctx.workDir,
    serverCpu: ctx.serverCpu,
    nodeFlags,
    env: {
      COFFER_AWS_TEST_MODE: 'true',
      COFFER_AWS_TEST_ACCESS_KEY_ID: credentials.accessKeyId,
      COFFER_AWS_TEST_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      COFFER_AWS_TEST_ACCOUNT_ID: accountId,
      COFFER_AWS_REGIONS: 'auto',
    },
  });
}

/** The native `GET …/value` of the same secrets (the test project's `aws` instance), as the first admin. */
async function nativeGets(server: CofferServer, secretNames: readonly string[]): Promise<RequestSpec> {
  const projects = await server.call<{ items: { id: string; awsAccountId?: string }[] }>(
    'GET',
    '/v2/projects?pageSize=100',
  );
  const project = projects.items.find((p) => p.awsAccountId === accountId);
  if (!project) throw new Error(`no project has the test account ${accountId}`);
  const instance = `/v2/projects/${project.id}/regions/${region}/instances/aws/secrets`;
  return {
    method: 'GET',
    path: `${instance}/${encodeURIComponent(secretNames[0]!)}/value`,
    headers: { authorization: `Bearer ${server.token}` },
    variants: secretNames.map((name) => ({ path: `${instance}/${encodeURIComponent(name)}/value` })),
  };
}

/** A server for `--profile` with its secrets made, and the native or the AWS request on it. */
async function awsProfileSetup(
  ctx: ScenarioContext,
  nodeFlags: readonly string[],
  face: 'native' | 'aws',
): Promise<{ server: CofferServer; request: RequestSpec }> {
  const server = await startAwsCoffer(ctx, nodeFlags);
  try {
    const secretNames = await createSecrets(server.baseUrl);
    const request =
      face === 'aws' ? await signedGets(server.baseUrl, secretNames) : await nativeGets(server, secretNames);
    return { server, request };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

function hasMoto(): boolean {
  return spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).status === 0;
}

/** Median over rounds of `b`'s server CPU µs per request ÷ `a`'s (a CPU share taken by another process cannot flatter it). */
function cpuRatio(records: readonly RunRecord[], a: string, b: string, c: number): number {
  const ratios: number[] = [];
  for (const ra of records.filter((r) => r.target === a && r.connections === c)) {
    const rb = records.find((r) => r.target === b && r.connections === c && r.round === ra.round);
    if (rb) ratios.push(rb.cpuUsPerRequest / ra.cpuUsPerRequest);
  }
  return median(ratios);
}

/** Median over rounds of `a` req/s ÷ `b` req/s of the same round and concurrency. */
function roundRatio(records: readonly RunRecord[], a: string, b: string, c: number): number {
  const ratios: number[] = [];
  for (const ra of records.filter((r) => r.target === a && r.connections === c)) {
    const rb = records.find((r) => r.target === b && r.connections === c && r.round === ra.round);
    if (rb) ratios.push(ra.wrk.requestsPerSecond / rb.wrk.requestsPerSecond);
  }
  return median(ratios);
}

/**
 * Issue 18's targets: GetSecretValue through the AWS face (SigV4 verified on every request) against
 * the native getSecretValue of the same secrets on the same server, and against moto's server
 * (`moto_server`, when installed) pinned to the same CPU.
 */
export const awsScenario: Scenario = {
  name: 'aws',
  description: `GetSecretValue through the AWS face vs native /v2 and moto, ${secretCount} secrets`,
  inDefaultRun: false,
  defaultConnections: [64],
  profile: (ctx) => profileAws(ctx, (face) => (flags) => awsProfileSetup(ctx, flags, face)),
  async prepare(ctx): Promise<PreparedScenario> {
    const server = await startAwsCoffer(ctx);
    let moto: { stop: () => Promise<void> } | undefined;
    try {
      const secretNames = await createSecrets(server.baseUrl);
      ctx.log(`  created ${secretNames.length} secrets through the AWS face`);
      const native = await nativeGets(server, secretNames);
      const candidates: Target[] = [
        { name: names.native, baseUrl: server.baseUrl, pid: server.process.pid, request: native },
        {
          name: names.aws,
          baseUrl: server.baseUrl,
          pid: server.process.pid,
          request: await signedGets(server.baseUrl, secretNames),
        },
      ];
      for (const c of candidates) {
        const spec = c.request;
        const response = await fetch(`${c.baseUrl}${spec.path}`, {
          method: spec.method,
          headers: spec.headers,
          ...(spec.body === undefined ? {} : { body: spec.body }),
        });
        if (response.status !== 200)
          throw new Error(`${c.name} answered ${response.status}: ${await response.text()}`);
      }
      if (hasMoto()) {
        const port = await freePort();
        const proc = startPinned(
          ctx.serverCpu,
          ['moto_server', '-H', '127.0.0.1', '-p', String(port)],
          {},
          join(ctx.workDir, 'moto.log'),
          ctx.workDir,
        );
        moto = proc;
        const motoUrl = `http://127.0.0.1:${port}`;
        await waitForOk(`${motoUrl}/moto-api/`, proc);
        await createSecrets(motoUrl);
        candidates.push({
          name: names.moto,
          baseUrl: motoUrl,
          pid: proc.pid,
          request: await signedGets(motoUrl, secretNames),
        });
      } else ctx.log('  moto_server not installed: the moto comparison is skipped');
      return {
        baselineRequest: {
          method: 'POST',
          path: '/',
          headers: {},
          body: JSON.stringify({ SecretId: secretNames[0] }),
        },
        candidates,
        close: async () => {
          await moto?.stop();
          await server.stop();
        },
        async report(records) {
          const top = Math.max(...ctx.connections);
          const vsNative = roundRatio(records, names.aws, names.native, top);
          const cpuVsNative = cpuRatio(records, names.aws, names.native, top);
          const rows = [
            [
              'AWS face ÷ native getSecretValue, req/s',
              fmt(vsNative, 3),
              '≥ 0.8',
              vsNative >= 0.8 ? 'met' : 'NOT MET',
            ],
            [
              'same, by server CPU µs per request',
              fmt(cpuVsNative, 3),
              '≥ 0.8',
              cpuVsNative >= 0.8 ? 'met' : 'NOT MET',
            ],
          ];
          if (moto) {
            const vsMoto = roundRatio(records, names.aws, names.moto, top);
            const cpuVsMoto = cpuRatio(records, names.aws, names.moto, top);
            rows.push(['AWS face ÷ moto, req/s', fmt(vsMoto, 1), '≥ 10', vsMoto >= 10 ? 'met' : 'NOT MET']);
            rows.push([
              'same, by server CPU µs per request',
              fmt(cpuVsMoto, 1),
              '≥ 10',
              cpuVsMoto >= 10 ? 'met' : 'NOT MET',
            ]);
          }
          return `Issue 18 targets at c=${top} (median of per-round ratios):\n\n${markdownTable([{ header: 'measure' }, { header: 'value', right: true }, { header: 'target' }, { header: 'verdict' }], rows)}`;
        },
      };
    } catch (err) {
      await moto?.stop();
      await server.stop();
      throw err;
    }
  },
};
