import { Command, Option } from 'commander';
import { version } from '../app/version.ts';
import { CofferApiError, CofferConnectionError } from '../sdk/index.ts';
import { registerAgentCommand } from './agent-command.ts';
import { registerAuditCommands } from './audit-commands.ts';
import { defaultAddress } from './cli-context.ts';
import { CliError } from './cli-error.ts';
import { registerCompletionCommand } from './completion-command.ts';
import { registerDbCommands } from './db-commands.ts';
import { registerInstancesCommands } from './instances-commands.ts';
import { registerKmsCommands } from './kms-commands.ts';
import { registerLeasesCommands } from './leases-commands.ts';
import { registerLoginCommands } from './login-command.ts';
import { registerOperationsCommands } from './operations-commands.ts';
import { registerOperatorCommands } from './operator-commands.ts';
import { registerProjectsCommands } from './projects-commands.ts';
import { registerRunCommand } from './run-command.ts';
import { registerSecretsCommands } from './secrets-commands.ts';
import { registerAccessKeysCommands } from './access-keys-commands.ts';
import { registerServiceAccountsCommands } from './service-accounts-commands.ts';
import { registerUsersCommands } from './users-commands.ts';
import type { ServerFlags } from './server-command.ts';

/** Commander's error text (`error: …\n(Did you mean …?)`) as one line. */
function oneLine(text: string): string {
  return `coffer: ${text
    .replace(/^error: /, '')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .join(' ')} (add --help for usage)\n`;
}

/** Builds the `coffer` command tree. */
export function buildProgram(): Command {
  const program = new Command('coffer')
    .description('Coffer: a self-hosted secrets manager with a built-in KMS')
    .version(version)
    // Settings before any subcommand is added: subcommands copy them when they are created.
    .configureOutput({ outputError: (text, write) => write(oneLine(text)) })
    .showSuggestionAfterError(true)
    .option(
      '--address <url>',
      `server address (env COFFER_ADDR, then the profile; default ${defaultAddress})`,
    )
    .option('--token <token>', 'bearer token (env COFFER_TOKEN, then the profile)')
    .option(
      '--key-file <file>',
      'service-account key file to get tokens with, instead of a token (env COFFER_KEY_FILE)',
    )
    .option('--project <project>', 'project id or display name (env COFFER_PROJECT, then the profile)')
    .option('--region <region>', 'region (env COFFER_REGION, then the profile; default local)')
    .option(
      '--instance <instance>',
      'Secrets Manager instance id or name (env COFFER_INSTANCE, then the profile)',
    )
    .addOption(
      new Option('--format <format>', 'output format (not for secrets versions access)')
        .choices(['table', 'json', 'yaml'])
        .default('table'),
    );

  program
    .command('server')
    .description('run a Coffer server (embedded SQLite by default)')
    .option('--config <file>', 'YAML or JSON configuration file (env COFFER_CONFIG)')
    .option('--listen <host:port>', 'address to listen on (env COFFER_LISTEN, default 127.0.0.1:8270)')
    .option('--data-dir <dir>', 'data directory (env COFFER_DATA_DIR, default ./coffer-data)')
    .option('--insecure-plaintext', 'allow plain HTTP on a non-loopback address')
    // Loaded only here: the server pulls in storage, crypto and Fastify, which remote commands never need.
    .action(async (flags: ServerFlags) => (await import('./server-command.ts')).runServer(flags));

  registerOperatorCommands(program);
  registerLoginCommands(program);
  registerProjectsCommands(program);
  registerKmsCommands(program);
  registerInstancesCommands(program);
  registerSecretsCommands(program);
  registerDbCommands(program);
  registerLeasesCommands(program);
  registerServiceAccountsCommands(program);
  registerAccessKeysCommands(program);
  registerUsersCommands(program);
  registerAuditCommands(program);
  registerOperationsCommands(program);
  registerRunCommand(program);
  registerAgentCommand(program);
  registerCompletionCommand(program);
  return program;
}

/** A hint after an API error, for the codes people meet first. */
function hintFor(err: CofferApiError): string {
  if (err.code === 'unauthenticated')
    return '; log in again with "coffer login" or check --token / COFFER_TOKEN';
  if (err.code === 'payload_too_large') return '; a secret value or plaintext is at most 64 KiB';
  return '';
}

/** Runs the CLI; errors print one line on stderr and set a non-zero exit code. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    let exitCode = 1;
    if (err instanceof CofferApiError) {
      process.stderr.write(`coffer: ${err.message} (${err.code}, HTTP ${err.status})${hintFor(err)}\n`);
    } else if (err instanceof CofferConnectionError) {
      const which = err.address === defaultAddress ? ' (the default, as no address is set)' : '';
      process.stderr.write(
        `coffer: ${err.message}${which}; is the server running? Set the address with --address, COFFER_ADDR or "coffer login"\n`,
      );
    } else if (err instanceof CliError) {
      process.stderr.write(`coffer: ${err.message}\n`);
      exitCode = err.exitCode;
    } else if (err instanceof TypeError && /fetch failed/.test(err.message)) {
      process.stderr.write(
        `coffer: cannot reach the server (${(err.cause as Error | undefined)?.message ?? 'connection failed'})\n`,
      );
    } else {
      process.stderr.write(`coffer: ${(err as Error).message}\n`);
    }
    process.exitCode = exitCode;
  }
}
