/**
 * A private PostgreSQL cluster for tests that must stop, restart or starve the database server
 * itself (test/disk-full.test.ts, test/cluster-postgres-restart.test.ts) without disturbing the
 * machine's shared PostgreSQL. initdb and pg_ctl run as the `postgres` OS user (PostgreSQL refuses
 * root), so this needs root and Debian's server binaries; callers skip without them, except under
 * CI=true, where they fail.
 */

import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './cli-process.ts';

const pgBin = '/usr/lib/postgresql';

/** The newest PostgreSQL server binaries installed (Debian's layout), if any. */
export function postgresBinaries(): string | undefined {
  if (!existsSync(pgBin)) return undefined;
  const versions = execFileSync('ls', [pgBin], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return newest && existsSync(join(pgBin, newest, 'bin', 'initdb')) ? join(pgBin, newest, 'bin') : undefined;
}

/**
 * Makes a cluster in `dir`/pg (trust authentication, superuser `postgres`); `dir` is handed to the
 * `postgres` user. Returns the binaries' directory, or why it cannot (no binaries, not root, initdb
 * failed): a reason to skip, or an error under CI=true.
 */
export function initPrivatePostgres(dir: string, initdbArgs: readonly string[] = []): string {
  const bin = postgresBinaries();
  let reason = bin === undefined ? `no PostgreSQL server binaries under ${pgBin}` : undefined;
  if (bin !== undefined) {
    try {
      execFileSync('chown', ['postgres:postgres', dir], { stdio: 'pipe' });
      execFileSync(
        'runuser',
        [
          '-u',
          'postgres',
          '--',
          join(bin, 'initdb'),
          '-D',
          join(dir, 'pg'),
          '-A',
          'trust',
          '-U',
          'postgres',
        ].concat(['--no-sync', ...initdbArgs]),
        { stdio: 'pipe' },
      );
      return bin;
    } catch (err) {
      reason = `cannot make a private PostgreSQL cluster: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  if (process.env.CI === 'true') throw new Error(reason);
  throw new PrivatePostgresUnavailable(reason!);
}

/** Thrown by initPrivatePostgres outside CI: the message is the reason to skip. */
export class PrivatePostgresUnavailable extends Error {}

/** A private cluster's server, controlled with pg_ctl as the `postgres` user. */
export interface PrivatePostgresServer {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly url: string;
  /** Runs `pg_ctl -D <data> ARGS` as `postgres`; returns its output, throws when it fails. */
  pgCtl(...args: string[]): string;
  /** Starts the server (waits until it accepts connections). */
  start(): void;
  /** Stops it (`fast` by default) for cleanup: never throws (nothing to do when it is not running). */
  stop(mode?: 'smart' | 'fast' | 'immediate'): void;
}

/**
 * The server of the cluster made by initPrivatePostgres in `dir`, on a free port of 127.0.0.1 with
 * its socket in `dir`/sock, and `settings` (e.g. `-c shared_buffers=8MB`) on its command line.
 * Not started.
 */
export async function privatePostgresServer(
  dir: string,
  bin: string,
  settings = '',
): Promise<PrivatePostgresServer> {
  const port = await freePort();
  const sockets = join(dir, 'sock');
  mkdirSync(sockets, { recursive: true });
  chownSync(sockets, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), -1);
  const pgCtl = (...args: string[]) =>
    execFileSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), '-D', join(dir, 'pg'), ...args], {
      stdio: 'pipe',
      encoding: 'utf8',
    });
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    pgCtl,
    start: () => {
      const options = `-p ${port} -k ${sockets} -c listen_addresses=127.0.0.1 ${settings}`;
      pgCtl('-l', join(dir, 'pg', 'server.log'), '-w', '-o', options, 'start');
    },
    stop: (mode = 'fast') => {
      try {
        pgCtl('-m', mode, '-w', 'stop');
      } catch {
        // Not running.
      }
    },
  };
}
