import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Command } from 'commander';
import { type CofferClient, type InstanceRef, secretText } from '../sdk/index.ts';
import { cofferClient } from './cli-context.ts';
import { collectRepeated } from './cli-input.ts';
import { CliError } from './cli-output.ts';
import { resolveInstance } from './cli-resolve.ts';
import { databaseAndRole } from './db-commands.ts';
import { dbEnvNames, RunDbCredential } from './run-db-credential.ts';
import { isDeniedVariable } from '../core/env-deny.ts';

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const forwardedSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * The variable name for a secret found under a prefix: the path after the prefix, upper-cased, each
 * run of characters other than letters and digits turned into `_` (`db/password` → `DB_PASSWORD`).
 */
export function envNameFor(path: string, prefix: string): string {
  const rest = path.startsWith(prefix) ? path.slice(prefix.length) : path;
  const name = rest
    .replace(/^\/+/, '')
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  const base =
    name === ''
      ? path
          .split('/')
          .pop()!
          .toUpperCase()
          .replace(/[^A-Z0-9]+/g, '_')
      : name;
  return /^[0-9]/.test(base) ? `_${base}` : base;
}

/** Which secret goes into which variable: explicit --secret pairs win over names made from a prefix. */
async function plan(
  client: CofferClient,
  instance: InstanceRef,
  pairs: readonly string[],
  prefixes: readonly string[],
): Promise<Map<string, string>> {
  const fromPrefix = new Map<string, string>();
  for (const prefix of prefixes) {
    let found = 0;
    for await (const secret of client.secrets.listAllSecrets(instance, { prefix })) {
      if (secret.deleteTime) continue;
      const name = envNameFor(secret.path, prefix);
      const earlier = fromPrefix.get(name);
      if (earlier !== undefined && earlier !== secret.path)
        throw new CliError(`secrets ${earlier} and ${secret.path} both make ${name}; name one with --secret`);
      fromPrefix.set(name, secret.path);
      found++;
    }
    if (found === 0) throw new CliError(`no secret under the prefix "${prefix}"`);
  }
  const explicit = new Map<string, string>();
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const name = pair.slice(0, at);
    const path = pair.slice(at + 1);
    if (at <= 0 || !envName.test(name) || path === '')
      throw new CliError(`--secret takes NAME=PATH with NAME a variable name, not "${pair}"`);
    explicit.set(name, path);
  }
  // A secret's name must not choose a variable that runs code (NODE_OPTIONS, LD_PRELOAD, …): whoever
  // may add a secret under the prefix would run code in the command. Only an explicit --secret may.
  for (const [name, path] of fromPrefix) {
    if (isDeniedVariable(name) && !explicit.has(name))
      throw new CliError(
        `secret ${path} would set ${name}, which coffer run never sets from a --prefix ` +
          `(it can make the command run other code; see "coffer run" in docs/cli.md); ` +
          `if you mean it, map it explicitly with --secret ${name}=${path}`,
      );
  }
  return new Map([...fromPrefix, ...explicit]);
}

/** Reads the values, 20 at a time; any secret that cannot be read stops the run before it starts. */
async function fetchValues(
  client: CofferClient,
  instance: InstanceRef,
  variables: Map<string, string>,
): Promise<Record<string, string>> {
  const paths = [...new Set(variables.values())];
  const values = new Map<string, string>();
  for (let i = 0; i < paths.length; i += 20) {
    const batch = await client.secrets.batchGetValues(instance, paths.slice(i, i + 20));
    const failed = batch.errors[0];
    if (failed)
      throw new CliError(`cannot read secret ${failed.path}: ${failed.error.message} (${failed.error.code})`);
    for (const value of batch.values) values.set(value.path, secretText(value));
  }
  const env: Record<string, string> = {};
  for (const [name, path] of variables) {
    const value = values.get(path)!;
    if (value.includes('\u0000'))
      throw new CliError(`secret ${path} holds a NUL byte; it cannot go in ${name}`);
    env[name] = value;
  }
  return env;
}

/** Starts the command with `extra` in its environment; resolves with the exit code to pass on. */
function runChild(argv: readonly string[], extra: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env: { ...process.env, ...extra } });
    const forward = (signal: NodeJS.Signals) => () => {
      if (child.exitCode === null) child.kill(signal);
    };
    const handlers = forwardedSignals.map((signal) => [signal, forward(signal)] as const);
    for (const [signal, handler] of handlers) process.on(signal, handler);
    const detach = () => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      detach();
      reject(
        new CliError(
          `cannot start ${argv[0]}: ${err.code === 'ENOENT' ? 'command not found' : (err.code ?? err.message)}`,
          err.code === 'ENOENT' ? 127 : 126,
        ),
      );
    });
    child.on('exit', (code, signal) => {
      detach();
      // As shells report it: 128 + the signal's number when the command was killed by one.
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

/** The options of `coffer run`. */
interface RunFlags {
  secret?: string[];
  prefix?: string[];
  dbRole?: string;
  dbEnvPrefix: string;
}

/**
 * Runs the command with a database credential issued for it (and the secrets' variables), renewing
 * it while the command runs and revoking it when the command exits, however it exits.
 */
async function runWithDbCredential(
  argv: readonly string[],
  client: CofferClient,
  instance: InstanceRef,
  flags: RunFlags & { dbRole: string },
  env: Record<string, string>,
): Promise<number> {
  const names = Object.values(dbEnvNames(flags.dbEnvPrefix));
  const clash = Object.keys(env).find((name) => names.includes(name));
  if (clash) throw new CliError(`${clash} is set by --db-role; map the secret to another variable`);
  const credential = await RunDbCredential.issue(client, instance, flags.dbRole, flags.dbEnvPrefix);
  try {
    credential.startRenewing();
    return await runChild(argv, { ...env, ...credential.env });
  } finally {
    // A signal while revoking (the server slow or down) stops waiting; the lease then expires by itself.
    const abort = new AbortController();
    const stop = () => abort.abort(new Error('interrupted'));
    for (const signal of forwardedSignals) process.on(signal, stop);
    await credential.revoke(abort.signal);
    for (const signal of forwardedSignals) process.off(signal, stop);
  }
}

/** `coffer run --secret NAME=PATH … [--prefix P] [--db-role DATABASE/ROLE] -- CMD ARGS`. */
export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run a command with secrets in its environment (signals forwarded, its exit code returned)')
    .option(
      '--secret <NAME=PATH>',
      'put secret PATH (latest version) in variable NAME (repeatable)',
      collectRepeated,
    )
    .option(
      '--prefix <prefix>',
      'every secret under this path prefix, named from the rest of its path (db/password → DB_PASSWORD; repeatable)',
      collectRepeated,
    )
    .option(
      '--db-role <DATABASE/ROLE>',
      'issue a PostgreSQL login of this role for the command (PGUSER, PGPASSWORD, PGHOST, …); renewed while it runs, revoked when it exits',
    )
    .option('--db-env-prefix <prefix>', 'prefix of the --db-role variables (PGUSER, …)', 'PG')
    .argument('<command...>', 'the command and its arguments, after --')
    .addHelpText(
      'after',
      '\nExamples:\n  coffer run --secret DB_PASSWORD=prod/db/password --prefix prod/api/ -- node server.js\n  coffer run --db-role app-db/readonly -- psql -c "select current_user"',
    )
    .action(async (argv: string[], flags: RunFlags, command: Command) => {
      if (!flags.secret?.length && !flags.prefix?.length && !flags.dbRole)
        throw new CliError(
          'give at least one --secret NAME=PATH or --prefix PREFIX (or --db-role DATABASE/ROLE)',
        );
      if (flags.dbRole) {
        databaseAndRole(flags.dbRole, undefined);
        dbEnvNames(flags.dbEnvPrefix);
      }
      const client = cofferClient(command);
      const instance = await resolveInstance(command, client);
      const variables = await plan(client, instance, flags.secret ?? [], flags.prefix ?? []);
      const env = await fetchValues(client, instance, variables);
      const dbRole = flags.dbRole;
      process.exitCode = dbRole
        ? await runWithDbCredential(argv, client, instance, { ...flags, dbRole }, env)
        : await runChild(argv, env);
    });
}
