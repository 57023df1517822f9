import type { Command } from 'commander';
import type { LeaseView } from '../sdk/index.ts';
import { cofferClient } from './cli-context.ts';
import { durationSeconds } from './cli-duration.ts';
import { CliError, printList, printResource, printResult } from './cli-output.ts';
import { collect, positiveInteger } from './cli-resolve.ts';
import { resolveDatabase } from './db-commands.ts';

const leaseStates = ['active', 'revoking', 'revoked', 'revoke_failed'] as const;

/** `coffer leases …`: leases of issued database credentials. */
export function registerLeasesCommands(program: Command): void {
  const leases = program.command('leases').description('leases of issued database credentials');

  leases
    .command('get')
    .alias('describe')
    .description('show a lease (your own, or any of a database you administer)')
    .argument('<id>', 'lease id (l-…)')
    .action(async (id: string, _flags: unknown, command: Command) => {
      printResource(command, await cofferClient(command).leases.get(id));
    });

  leases
    .command('renew')
    .description("extend a lease (never past its role's max TTL from issue)")
    .argument('<id>', 'lease id')
    .option('--increment <duration>', 'how long from now, e.g. 1h (default: the role default TTL)')
    .action(async (id: string, flags: { increment?: string }, command: Command) => {
      const increment =
        flags.increment === undefined ? undefined : durationSeconds(flags.increment, '--increment');
      const lease = await cofferClient(command).leases.renew(
        id,
        increment === undefined ? {} : { increment },
      );
      printResult(command, lease, () => `Renewed lease [${lease.id}]: expires ${lease.expireTime}.`);
    });

  leases
    .command('revoke')
    .description('revoke a lease now (its login is dropped)')
    .argument('<id>', 'lease id')
    .action(async (id: string, _flags: unknown, command: Command) => {
      const lease = await cofferClient(command).leases.revoke(id);
      printResult(command, lease, () => `Revoked lease [${lease.id}] (${lease.state}).`);
    });

  leases
    .command('list')
    .description("list a database connection's leases (admin)")
    .argument('<database>', 'connection name')
    .option('--role <role>', 'only leases of this role')
    .option('--state <state>', `only leases in this state (${leaseStates.join(', ')})`)
    .option('--limit <n>', 'at most this many')
    .action(
      async (
        database: string,
        flags: { role?: string; state?: string; limit?: string },
        command: Command,
      ) => {
        const state = flags.state as LeaseView['state'] | undefined;
        if (state !== undefined && !leaseStates.includes(state))
          throw new CliError(`--state takes ${leaseStates.join(', ')}, not "${state}"`);
        const client = cofferClient(command);
        const ref = await resolveDatabase(command, client, database);
        const items = await collect(
          (pageToken) =>
            client.databases.listLeases(ref, {
              ...(flags.role !== undefined ? { role: flags.role } : {}),
              ...(state !== undefined ? { state } : {}),
              ...(pageToken ? { pageToken } : {}),
            }),
          flags.limit === undefined ? undefined : positiveInteger(flags.limit, '--limit'),
        );
        printList(command, items, [
          ['id', (l) => l.id],
          ['username', (l) => l.username],
          ['principal', (l) => l.principal],
          ['state', (l) => l.state],
          ['expires', (l) => l.expireTime],
        ]);
      },
    );

  leases
    .command('revoke-prefix')
    .description('revoke every lease of a database connection, or of one of its roles (admin)')
    .argument('<database>', 'connection name')
    .option('--role <role>', 'only leases of this role')
    .action(async (database: string, flags: { role?: string }, command: Command) => {
      const client = cofferClient(command);
      const ref = await resolveDatabase(command, client, database);
      const result = await client.databases.revokePrefix(
        ref,
        flags.role === undefined ? {} : { role: flags.role },
      );
      printResult(
        command,
        result,
        () =>
          `Revoking ${result.revoked} lease(s) (follow with "coffer leases list ${database} --state revoking").`,
      );
    });
}
