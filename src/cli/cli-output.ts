import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import type { ClientOptions } from '../sdk/index.ts';
import { cliContext } from './cli-context.ts';
import { CliError } from './cli-error.ts';

export { CliError } from './cli-error.ts';

/** Address and token from flags, env and the profile (see cli-context.ts). */
export function remoteOptions(command: Command, needsToken: boolean): ClientOptions {
  const context = cliContext(command);
  if (needsToken && !context.token)
    throw new CliError('no token: run "coffer login", pass --token or set COFFER_TOKEN');
  return { address: context.address, token: context.token };
}

/** The output format asked for with --format. */
export function outputFormat(command: Command): 'table' | 'json' | 'yaml' {
  const format = (command.optsWithGlobals() as { format?: string }).format;
  return format === 'json' || format === 'yaml' ? format : 'table';
}

/** Prints a result as --format says: json, yaml, or the human `text()` (default). */
export function printResult(command: Command, value: unknown, text: () => string): void {
  const format = outputFormat(command);
  if (format === 'json') process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else if (format === 'yaml') process.stdout.write(toYaml(value));
  else {
    const out = text();
    if (out !== '') process.stdout.write(`${out}\n`);
  }
}

/** Prints one resource: JSON or YAML as asked, YAML for people (as gcloud's describe). */
export function printResource(command: Command, value: unknown): void {
  printResult(command, value, () => toYaml(value).trimEnd());
}

/** A table column: its header and how to show an item's cell. */
export type Column<T> = readonly [
  header: string,
  cell: (item: T) => string | number | boolean | null | undefined,
];

/** Renders rows as an aligned table with upper-case headers. */
export function renderTable<T>(items: readonly T[], columns: ReadonlyArray<Column<T>>): string {
  const rows = [
    columns.map(([header]) => header.toUpperCase()),
    ...items.map((item) => columns.map(([, cell]) => String(cell(item) ?? ''))),
  ];
  const widths = columns.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Prints a list: an array in JSON or YAML, a table for people (`Listed 0 items.` when empty, on stderr). */
export function printList<T>(command: Command, items: readonly T[], columns: ReadonlyArray<Column<T>>): void {
  if (outputFormat(command) === 'table' && items.length === 0) {
    process.stderr.write('Listed 0 items.\n');
    return;
  }
  printResult(command, items, () => renderTable(items, columns));
}

/** A line for people on stderr (progress, confirmations), so stdout stays clean for scripts. */
export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}
