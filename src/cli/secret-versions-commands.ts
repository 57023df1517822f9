import type { Command } from 'commander';
import { secretBytes, secretValueFields, type VersionSelector } from '../sdk/index.ts';
import { cofferClient } from './cli-context.ts';
import { collectRepeated, readDataFile } from './cli-input.ts';
import { CliError, printList, printResource, printResult } from './cli-output.ts';
import { positiveInteger, resolveSecret } from './cli-resolve.ts';

/** `latest` or a version number. */
function versionArgument(value: string): number | 'latest' {
  return value === 'latest' ? 'latest' : positiveInteger(value, 'VERSION (a number or "latest")');
}

/** A version number (not `latest`) for state changes and describe. */
function versionNumber(value: string): number {
  return positiveInteger(value, 'VERSION');
}

/** Writes bytes to stdout and resolves once they are handed to the OS, so nothing is cut at exit. */
function writeRaw(bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(bytes, (err) => (err ? reject(err) : resolve()));
  });
}

/** `coffer secrets versions …` and `coffer secrets stages …`. */
export function registerSecretVersionCommands(secrets: Command): void {
  const versions = secrets.command('versions').description('add, read and manage the versions of a secret');

  versions
    .command('add')
    .description('add a version (it becomes "current"; the one before becomes "previous")')
    .argument('<secret>', 'secret path')
    .requiredOption('--data-file <file>', 'the value: a file, or - for stdin (bytes as given)')
    .option(
      '--stage <stage>',
      'put these stages on the new version instead of "current" (repeatable)',
      collectRepeated,
    )
    .option('--expected-latest-version <n>', 'refuse (409) unless the newest version is this one')
    .action(
      async (
        path: string,
        flags: { dataFile: string; stage?: string[]; expectedLatestVersion?: string },
        command: Command,
      ) => {
        const data = await readDataFile(flags.dataFile);
        const client = cofferClient(command);
        const expected =
          flags.expectedLatestVersion === undefined
            ? undefined
            : Number.parseInt(flags.expectedLatestVersion, 10);
        if (expected !== undefined && !(expected >= 0))
          throw new CliError('--expected-latest-version takes a whole number');
        const result = await client.secrets.putSecretValue(await resolveSecret(command, client, path), {
          ...secretValueFields(data),
          ...(flags.stage ? { stages: flags.stage } : {}),
          ...(expected !== undefined ? { expectedLatestVersion: expected } : {}),
        });
        printResult(command, result, () => `Created version [${result.version}] of the secret [${path}].`);
      },
    );

  versions
    .command('list')
    .description('list the versions of a secret')
    .argument('<secret>', 'secret path')
    .action(async (path: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const page = await client.secrets.listVersions(await resolveSecret(command, client, path));
      printList(command, [...page.items].reverse(), [
        ['version', (v) => v.version],
        ['state', (v) => v.state],
        ['stages', (v) => v.stages.join(',')],
        ['created', (v) => v.createTime],
        ['created by', (v) => v.createdBy],
      ]);
    });

  versions
    .command('describe')
    .description("show a version's metadata")
    .argument('<version>', 'version number')
    .requiredOption('--secret <path>', 'secret path')
    .action(async (version: string, flags: { secret: string }, command: Command) => {
      const client = cofferClient(command);
      printResource(
        command,
        await client.secrets.getVersion(
          await resolveSecret(command, client, flags.secret),
          versionNumber(version),
        ),
      );
    });

  versions
    .command('access')
    .description('print the value of a version to stdout, byte for byte (no newline added, no --format)')
    .argument('[version]', '"latest" (default) or a version number')
    .requiredOption('--secret <path>', 'secret path')
    .option('--stage <stage>', 'read the version carrying this stage (e.g. previous)')
    .action(
      async (version: string | undefined, flags: { secret: string; stage?: string }, command: Command) => {
        const select: VersionSelector = {
          ...(version !== undefined ? { version: versionArgument(version) } : {}),
          ...(flags.stage !== undefined ? { stage: flags.stage } : {}),
        };
        const client = cofferClient(command);
        const value = await client.secrets.getSecretValue(
          await resolveSecret(command, client, flags.secret),
          select,
        );
        await writeRaw(secretBytes(value));
      },
    );

  for (const [action, description] of [
    ['enable', 'enable a disabled version'],
    ['disable', 'disable a version (reads of it fail until enabled)'],
    ['destroy', 'destroy a version: its value is erased for good, its metadata kept'],
  ] as const) {
    versions
      .command(action)
      .description(description)
      .argument('<version>', 'version number')
      .requiredOption('--secret <path>', 'secret path')
      .action(async (version: string, flags: { secret: string }, command: Command) => {
        const client = cofferClient(command);
        const result = await client.secrets.setVersionState(
          await resolveSecret(command, client, flags.secret),
          versionNumber(version),
          action,
        );
        printResult(
          command,
          result,
          () => `Version [${result.version}] of [${flags.secret}] is ${result.state}.`,
        );
      });
  }

  const stages = secrets.command('stages').description('staging labels (current, previous, pending, custom)');
  stages
    .command('list')
    .description('list the stages of a secret and the version each is on')
    .argument('<secret>', 'secret path')
    .action(async (path: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const page = await client.secrets.listStages(await resolveSecret(command, client, path));
      printList(command, page.items, [
        ['stage', (s) => s.stage],
        ['version', (s) => s.version],
      ]);
    });
  stages
    .command('move')
    .description('move a stage onto a version (a stage is on at most one version)')
    .argument('<stage>', 'stage name')
    .requiredOption('--secret <path>', 'secret path')
    .requiredOption('--to-version <n>', 'the version to put the stage on')
    .action(async (stage: string, flags: { secret: string; toVersion: string }, command: Command) => {
      const client = cofferClient(command);
      const moved = await client.secrets.moveStage(
        await resolveSecret(command, client, flags.secret),
        stage,
        versionNumber(flags.toVersion),
      );
      printResult(
        command,
        moved,
        () => `Stage [${moved.stage}] of [${flags.secret}] is on version [${moved.version}].`,
      );
    });
}
