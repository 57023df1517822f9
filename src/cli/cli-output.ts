import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import type { ClientOptions } from '../sdk/index.ts';

/** A problem the CLI reports in one line before exiting non-zero. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** Address and token from flags, then COFFER_ADDR / COFFER_TOKEN. */
export function remoteOptions(command: Command, needsToken: boolean): ClientOptions {
  const options = command.optsWithGlobals() as { address?: string; token?: string };
  const address = options.address ?? process.env.COFFER_ADDR ?? 'http://127.0.0.1:8270';
  const token = options.token ?? process.env.COFFER_TOKEN;
  if (needsToken && !token) throw new CliError('no token: pass --token or set COFFER_TOKEN');
  return { address, token };
}

/** Prints a result as --format says: json, yaml, or the human `text()` (default). */
export function printResult(command: Command, value: unknown, text: () => string): void {
  const format = (command.optsWithGlobals() as { format?: string }).format ?? 'table';
  if (format === 'json') process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else if (format === 'yaml') process.stdout.write(toYaml(value));
  else process.stdout.write(`${text()}\n`);
}
