import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCoffer } from '../lib/coffer-server.ts';
import { fmt, markdownTable } from '../lib/table.ts';
import type { Scenario, ScenarioContext } from './scenario.ts';
import { secretsFixture, secretUrl } from './secrets-setup.ts';

const run = promisify(execFile);

/** Secrets in the store: 1,000,000 unless `COFFER_BENCH_BACKUP_SECRETS` says otherwise (smoke runs). */
const storedSecrets = Number(process.env.COFFER_BENCH_BACKUP_SECRETS ?? 1_000_000);

/** The target for each of backup and restore at 1M secrets (issue 16 §2). */
const targetSeconds = 120;

/** Runs `coffer ARGS` of the benchmarked checkout pinned to the server CPU; returns its wall time. */
async function timedCoffer(
  ctx: ScenarioContext,
  args: string[],
  env: Record<string, string>,
): Promise<number> {
  const t0 = performance.now();
  await run(
    'taskset',
    ['-c', String(ctx.serverCpu), process.execPath, join(ctx.repoDir, 'bin', 'coffer.js'), ...args],
    {
      cwd: ctx.repoDir,
      env: { ...process.env, ...env },
      timeout: 30 * 60_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return (performance.now() - t0) / 1000;
}

/**
 * `coffer operator backup` of a running node holding 1,000,000 secrets (100 through the API, the rest
 * filler rows), then `coffer operator restore` into a fresh data dir and a start on it: wall times
 * against the ≤ 2 min target, file size, and two values read back from the restored node.
 */
export const backupScenario: Scenario = {
  name: 'backup',
  description: `operator backup and restore of ${fmt(storedSecrets)} secrets (target ≤ ${targetSeconds} s each)`,
  inDefaultRun: false,
  async run(ctx): Promise<string> {
    const fixture = await secretsFixture({
      repoDir: ctx.repoDir,
      workDir: ctx.workDir,
      serverCpu: ctx.serverCpu,
      stored: storedSecrets,
      real: Math.min(100, storedSecrets),
      log: ctx.log,
    });
    const file = join(ctx.workDir, 'bench.cbk');
    const restoredDir = join(ctx.workDir, 'restored-data');
    try {
      ctx.log(`  backup of ${fmt(storedSecrets)} secrets`);
      const backupSeconds = await timedCoffer(ctx, ['operator', 'backup', '--out', file], {
        COFFER_ADDR: fixture.server.baseUrl,
        COFFER_TOKEN: fixture.server.token,
      });
      const fileBytes = statSync(file).size;
      mkdirSync(restoredDir, { mode: 0o700 });
      copyFileSync(join(fixture.server.dataDir, 'seal.key'), join(restoredDir, 'seal.key'));
      ctx.log('  restore into a fresh data dir');
      const restoreSeconds = await timedCoffer(
        ctx,
        ['operator', 'restore', file, '--data-dir', restoredDir],
        {},
      );
      const restored = await startCoffer({
        repoDir: ctx.repoDir,
        workDir: ctx.workDir,
        serverCpu: ctx.serverCpu,
        dataDir: restoredDir,
        token: fixture.server.token,
      });
      try {
        for (const path of [fixture.paths[0]!, fixture.paths[fixture.paths.length - 1]!]) {
          const want = await fixture.server.call<{ value: string }>(
            'GET',
            `${secretUrl(fixture.instancePath, path)}/value`,
          );
          const got = await restored.call<{ value: string }>(
            'GET',
            `${secretUrl(fixture.instancePath, path)}/value`,
          );
          if (got.value !== want.value)
            throw new Error(`the restored node returns another value for ${path}`);
        }
      } finally {
        await restored.stop();
      }
      const verdict = (seconds: number) => (seconds <= targetSeconds ? 'met' : 'MISSED');
      return [
        `Backup and restore, ${fmt(storedSecrets)} secrets on SQLite (file ${fmt(fileBytes / 1e6, 1)} MB):`,
        '',
        markdownTable(
          [{ header: 'step' }, { header: 'seconds', right: true }, { header: `target ≤ ${targetSeconds} s` }],
          [
            ['operator backup (online, via the route)', fmt(backupSeconds, 1), verdict(backupSeconds)],
            ['operator restore (into a fresh data dir)', fmt(restoreSeconds, 1), verdict(restoreSeconds)],
          ],
        ),
      ].join('\n');
    } finally {
      await fixture.server.stop();
      rmSync(file, { force: true });
      rmSync(restoredDir, { recursive: true, force: true });
    }
  },
};
