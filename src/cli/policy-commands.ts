import type { Command } from 'commander';
import type { CofferClient, PolicyResource, PolicyView } from '../sdk/index.ts';
import { cofferClient } from './cli-context.ts';
import { readDataFile } from './cli-input.ts';
import { CliError, printResult, renderTable } from './cli-output.ts';

/** Turns a command's positional argument into the resource whose policy is meant. */
export type ResolvePolicyResource = (
  command: Command,
  client: CofferClient,
  argument: string,
) => Promise<PolicyResource>;

function printPolicy(command: Command, policy: PolicyView): void {
  printResult(command, policy, () => {
    const rows = policy.bindings.flatMap((binding) =>
      binding.members.map((member) => ({
        role: binding.role,
        member,
        condition: binding.condition
          ? `${binding.condition.title}${binding.condition.expiresAt ? ` (until ${binding.condition.expiresAt})` : ''}`
          : '',
      })),
    );
    const table =
      rows.length === 0
        ? 'no bindings'
        : renderTable(rows, [
            ['role', (r) => r.role],
            ['member', (r) => r.member],
            ['condition', (r) => r.condition],
          ]);
    return `${table}\netag: ${policy.etag}`;
  });
}

/**
 * Adds `add-iam-policy-binding`, `remove-iam-policy-binding`, `get-iam-policy` and `set-iam-policy`
 * to `parent` (as gcloud has them on every resource kind).
 */
export function registerPolicyCommands(
  parent: Command,
  argument: string,
  what: string,
  resolve: ResolvePolicyResource,
  extraOptions: (command: Command) => Command = (command) => command,
): void {
  const sub = (name: string) => extraOptions(parent.command(name));
  sub('add-iam-policy-binding')
    .description(`grant a role to a member on ${what}`)
    .argument(argument)
    .requiredOption('--member <member>', 'serviceAccount:EMAIL or user:EMAIL')
    .requiredOption('--role <role>', 'e.g. roles/secretsmanager.secretAccessor')
    .option('--condition-title <title>', 'make the binding conditional (time-bound)')
    .option('--condition-expires-at <time>', 'RFC 3339 time after which the binding no longer applies')
    .action(
      async (
        name: string,
        flags: { member: string; role: string; conditionTitle?: string; conditionExpiresAt?: string },
        command: Command,
      ) => {
        if (flags.conditionExpiresAt && !flags.conditionTitle)
          throw new CliError('--condition-expires-at needs --condition-title');
        const client = cofferClient(command);
        const resource = await resolve(command, client, name);
        const policy = await client.iam.addBinding(resource, {
          role: flags.role,
          member: flags.member,
          ...(flags.conditionTitle
            ? {
                condition: {
                  title: flags.conditionTitle,
                  ...(flags.conditionExpiresAt ? { expiresAt: flags.conditionExpiresAt } : {}),
                },
              }
            : {}),
        });
        printPolicy(command, policy);
      },
    );

  sub('remove-iam-policy-binding')
    .description(`revoke a role from a member on ${what}`)
    .argument(argument)
    .requiredOption('--member <member>', 'serviceAccount:EMAIL or user:EMAIL')
    .requiredOption('--role <role>', 'the role to revoke')
    .action(async (name: string, flags: { member: string; role: string }, command: Command) => {
      const client = cofferClient(command);
      const resource = await resolve(command, client, name);
      printPolicy(
        command,
        await client.iam.removeBinding(resource, { role: flags.role, member: flags.member }),
      );
    });

  sub('get-iam-policy')
    .description(`show the IAM policy of ${what}`)
    .argument(argument)
    .action(async (name: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      printPolicy(command, await client.iam.getPolicy(await resolve(command, client, name)));
    });

  sub('set-iam-policy')
    .description(`replace the IAM policy of ${what} with a JSON file (its etag guards concurrent changes)`)
    .argument(argument)
    .argument('<policy-file>', 'JSON {bindings, etag}; - reads stdin')
    .action(async (name: string, file: string, _flags: unknown, command: Command) => {
      let body: { bindings?: unknown; etag?: unknown };
      try {
        body = JSON.parse((await readDataFile(file, 'policy file')).toString('utf8')) as typeof body;
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw new CliError(`the policy file ${file} is not valid JSON`);
      }
      if (!Array.isArray(body.bindings)) throw new CliError('the policy file needs a "bindings" array');
      const client = cofferClient(command);
      const resource = await resolve(command, client, name);
      printPolicy(
        command,
        await client.iam.setPolicy(resource, {
          bindings: body.bindings as PolicyView['bindings'],
          ...(typeof body.etag === 'string' ? { etag: body.etag } : {}),
        }),
      );
    });
}
