import { closeSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Command } from 'commander';
import { BackupError, type BackupManifest } from '../backup/backup-format.ts';
import { readBackup } from '../backup/backup-reader.ts';
import { restoreBackup } from '../backup/backup-restore.ts';
import { ConfigError, loadConfig } from '../core/config.ts';
import { isPostgresUrl } from '../storage/open-storage.ts';
import { describePostgresTarget } from '../storage/postgres/postgres-errors.ts';
import { CofferApiError, CofferClient, CofferConnectionError } from '../sdk/index.ts';
import { CliError } from './cli-error.ts';
import { printResult, remoteOptions } from './cli-output.ts';
import { progressBar } from './progress-bar.ts';

/** `coffer operator backup --out FILE` and `coffer operator restore FILE` (docs/backup.md). */
export function registerBackupCommands(operator: Command): void {
  operator
    .command('backup')
    .description('write a backup of the whole store to FILE, online (needs sys.backup at the root)')
    .requiredOption('--out <file>', 'where to write the backup (FILE.partial until it is complete)')
    .action(async (options: { out: string }, command: Command) => {
      const client = new CofferClient(remoteOptions(command, true));
      const out = resolve(options.out);
      const partial = `${out}.partial`;
      let fd: number;
      try {
        fd = openSync(partial, 'w', 0o600);
      } catch (err) {
        throw new CliError(`cannot write ${partial} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      const bar = progressBar('backup');
      const controller = new AbortController();
      const abort = () => controller.abort(new CliError('interrupted; no backup was written', 130));
      process.once('SIGINT', abort);
      try {
        const body = await client.sys.backup(controller.signal);
        const bytes = Readable.fromWeb(body as never);
        const file = createWriteStream('', { fd, autoClose: false });
        const rows = process.stderr.isTTY ? rowCounter(bar) : undefined;
        await pipeline(bytes, rows?.tap ?? new Transform({ transform: (c, _e, cb) => cb(null, c) }), file);
        fsyncSync(fd);
        closeSync(fd);
        fd = -1;
        bar.finish();
        // The file is named FILE only once it reads back whole: checksum, counts and trailer.
        const { manifest, trailer } = await readBackup(partial);
        renameSync(partial, out);
        syncDir(dirname(out));
        printResult(
          command,
          { file: out, ...summary(manifest), rows: trailer.rows, sha256: trailer.sha256 },
          () =>
            `wrote ${out}: ${trailer.rows} rows, schema ${manifest.schemaVersion}, taken ${manifest.createTime}`,
        );
      } catch (err) {
        bar.finish();
        rmSync(partial, { force: true });
        try {
          if (fd !== -1) closeSync(fd);
        } catch {
          // The write stream closed it when the pipeline failed.
        }
        if (controller.signal.aborted) throw controller.signal.reason as Error;
        if (err instanceof BackupError) throw new CliError(`the backup did not complete: ${err.message}`);
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EIO')
          throw new CliError(`cannot write ${partial} (${code}); no backup was written`);
        if (err instanceof CofferApiError || err instanceof CofferConnectionError) throw err;
        // The body ended early: the server died or its backup failed (its log says why).
        throw new CliError(`the backup was cut off (${(err as Error).message}); no backup was written`);
      } finally {
        process.off('SIGINT', abort);
      }
    });

  operator
    .command('restore')
    .description('restore a backup into an EMPTY data dir or database, with the server stopped')
    .argument('<file>', 'the backup file')
    .option('--data-dir <dir>', 'the node data dir (SQLite database, audit head file); default from config')
    .option('--database-url <url>', 'restore into this empty PostgreSQL database instead of SQLite')
    .option('--config <file>', 'read dataDir and databaseUrl from this config file')
    .action(
      async (
        file: string,
        options: { dataDir?: string; databaseUrl?: string; config?: string },
        command: Command,
      ) => {
        const flags: Record<string, unknown> = {};
        if (options.dataDir !== undefined) flags.dataDir = options.dataDir;
        if (options.databaseUrl !== undefined) flags.databaseUrl = options.databaseUrl;
        let config;
        try {
          config = loadConfig({ file: options.config, env: process.env, flags });
        } catch (err) {
          if (err instanceof ConfigError) throw new CliError(err.message, 2);
          throw err;
        }
        if (config.databaseUrl !== undefined && !isPostgresUrl(config.databaseUrl))
          throw new CliError('--database-url must be a postgres:// URL', 2);
        const bar = progressBar('restore');
        try {
          const result = await restoreBackup({
            file: resolve(file),
            dataDir: config.dataDir,
            ...(config.databaseUrl === undefined ? {} : { databaseUrl: config.databaseUrl }),
            writeTimeoutMs: config.storageWriteTimeoutMs,
            onProgress: (done, total) => bar.update(done, total),
          });
          bar.finish();
          const target =
            result.engine === 'postgres'
              ? `PostgreSQL ${describePostgresTarget(config.databaseUrl!)}`
              : `SQLite in ${resolve(config.dataDir)}`;
          printResult(command, { target, ...summary(result.manifest), rows: result.rows }, () =>
            [
              `restored ${result.rows} rows into ${target} (backup taken ${result.manifest.createTime}, schema ${result.manifest.schemaVersion})`,
              'Start the server on it: it unseals with the ORIGINAL seal key file (put it in the data dir) or unseal shares.',
            ].join('\n'),
          );
        } catch (err) {
          bar.finish();
          if (err instanceof BackupError) throw new CliError(err.message, 1);
          throw err;
        }
      },
    );
}

function summary(manifest: BackupManifest) {
  return {
    createTime: manifest.createTime,
    cofferVersion: manifest.cofferVersion,
    schemaVersion: manifest.schemaVersion,
    sourceEngine: manifest.sourceEngine,
  };
}

/**
 * Passes the bytes on unchanged while a side gunzip counts rows (lines) for the progress bar; the
 * manifest (first line) gives the total.
 */
function rowCounter(bar: ReturnType<typeof progressBar>): { tap: Transform } {
  const gunzip = createGunzip();
  let total = 0;
  let lines = 0;
  let first = '';
  gunzip.on('data', (chunk: Buffer) => {
    if (total === 0) {
      first += chunk.toString('utf8', 0, Math.min(chunk.length, 1 << 20));
      const end = first.indexOf('\n');
      if (end !== -1) {
        try {
          const manifest = JSON.parse(first.slice(0, end)) as BackupManifest;
          total = manifest.tables.reduce((sum, t) => sum + t.rows + 2, 0);
        } catch {
          total = -1;
        }
      }
    }
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1;
    if (total > 0) bar.update(Math.min(lines, total), total);
  });
  gunzip.on('error', () => undefined);
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      gunzip.write(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      gunzip.end();
      callback();
    },
  });
  return { tap };
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  }
}
