import { Command, Option } from 'commander';
import { version } from '../app/version.ts';
import { CofferApiError } from '../sdk/index.ts';
import { CliError } from './cli-output.ts';
import { registerOperatorCommands } from './operator-commands.ts';
import { runServer, type ServerFlags } from './server-command.ts';

/** Builds the `coffer` command tree. */
export function buildProgram(): Command {
  const program = new Command('coffer')
    .description('Coffer: a self-hosted secrets manager with a built-in KMS')
    .version(version)
    .option('--address <url>', 'server address (env COFFER_ADDR, default http://127.0.0.1:8270)')
    .option('--token <token>', 'bearer token (env COFFER_TOKEN)')
    .addOption(
      new Option('--format <format>', 'output format').choices(['table', 'json', 'yaml']).default('table'),
    )
    .showSuggestionAfterError(true)
    .showHelpAfterError('(add --help for usage)');

  program
    .command('server')
    .description('run a Coffer server (embedded SQLite by default)')
    .option('--config <file>', 'YAML or JSON configuration file (env COFFER_CONFIG)')
    .option('--listen <host:port>', 'address to listen on (env COFFER_LISTEN, default 127.0.0.1:8270)')
    .option('--data-dir <dir>', 'data directory (env COFFER_DATA_DIR, default ./coffer-data)')
    .option('--insecure-plaintext', 'allow plain HTTP on a non-loopback address')
    .action(async (flags: ServerFlags) => runServer(flags));

  registerOperatorCommands(program);
  return program;
}

/** Runs the CLI; errors print one line and set a non-zero exit code. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CofferApiError) {
      process.stderr.write(`coffer: ${err.message} (${err.code}, HTTP ${err.status})\n`);
    } else if (err instanceof CliError) {
      process.stderr.write(`coffer: ${err.message}\n`);
    } else if (err instanceof TypeError && /fetch failed/.test(err.message)) {
      process.stderr.write(
        `coffer: cannot reach the server (${(err.cause as Error | undefined)?.message ?? 'connection failed'})\n`,
      );
    } else {
      process.stderr.write(`coffer: ${(err as Error).message}\n`);
    }
    process.exitCode = 1;
  }
}
