import type { Command } from 'commander';
import type { AccessKeyOwner, AccessKeyView, CofferClient, CreatedAccessKeyView } from '../sdk/index.ts';
import { cofferClient } from './cli-context.ts';
import { printList, printResult } from './cli-output.ts';
import { collect, resolveProject } from './cli-resolve.ts';
import type { AccountResolver } from './service-account-keys-commands.ts';

type OwnerOf = (command: Command, client: CofferClient, owner: string | undefined) => Promise<AccessKeyOwner>;

function printCreated(command: Command, key: CreatedAccessKeyView): void {
  printResult(
    command,
    key,
    () =>
      `Created AWS access key for [${key.principal}] in account ${key.awsAccountId} (project ${key.projectId}).\n` +
      `AWS_ACCESS_KEY_ID=${key.accessKeyId}\nAWS_SECRET_ACCESS_KEY=${key.secretAccessKey}\n` +
      'The secret is not shown again.',
  );
}

/** list, disable, enable, delete: the same for every owner. */
function registerManagement(group: Command, ownerArgument: string | undefined, ownerOf: OwnerOf): void {
  const withOwner = (sub: Command) => (ownerArgument ? sub.argument(ownerArgument, 'owner') : sub);
  withOwner(group.command('list').description('list the access keys (never their secrets)')).action(
    async (...args: unknown[]) => {
      const command = args.at(-1) as Command;
      const client = cofferClient(command);
      const owner = await ownerOf(command, client, ownerArgument ? (args[0] as string) : undefined);
      const items = await collect((pageToken) =>
        client.accessKeys.list(owner, pageToken ? { pageToken } : {}),
      );
      printList<AccessKeyView>(command, items, [
        ['access key id', (k) => k.accessKeyId],
        ['project', (k) => k.projectId],
        ['disabled', (k) => k.disabled],
        ['created', (k) => k.createTime],
      ]);
    },
  );
  for (const action of ['disable', 'enable', 'delete'] as const) {
    withOwner(
      group
        .command(action)
        .description(
          action === 'disable'
            ? 'disable an access key: requests signed with it are refused at once'
            : action === 'enable'
              ? 'enable a disabled access key'
              : 'delete an access key',
        ),
    )
      .argument('<access-key-id>', 'AKIA…')
      .action(async (...args: unknown[]) => {
        const command = args.at(-1) as Command;
        const client = cofferClient(command);
        const owner = await ownerOf(command, client, ownerArgument ? (args[0] as string) : undefined);
        const id = args[ownerArgument ? 1 : 0] as string;
        if (action === 'delete') {
          await client.accessKeys.delete(owner, id);
          printResult(command, { accessKeyId: id, deleted: true }, () => `Deleted access key [${id}].`);
          return;
        }
        const key = await client.accessKeys.setDisabled(owner, id, action === 'disable');
        printResult(command, key, () => `Access key [${id}] is ${action}d.`);
      });
  }
}

/** `coffer service-accounts access-keys create|list|disable|enable|delete <account> …`. */
export function registerServiceAccountAccessKeysCommands(
  accounts: Command,
  accountRef: AccountResolver,
): void {
  const group = accounts
    .command('access-keys')
    .description(
      'AWS access keys of a service account (SigV4 credentials for the AWS-compatible API, docs/aws.md)',
    );
  group
    .command('create')
    .description('create an access key (needs act_as on the account); the secret is printed once')
    .argument('<account>', 'email (or name)')
    .action(async (account: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      printCreated(command, await client.accessKeys.create(await accountRef(command, client, account)));
    });
  registerManagement(group, '<account>', (command, client, account) => accountRef(command, client, account!));
}

/** `coffer access-keys create|list|disable|enable|delete` (the caller's own) and `--user` for administrators. */
export function registerAccessKeysCommands(program: Command): void {
  const group = program
    .command('access-keys')
    .description('your own AWS access keys (users), for the AWS-compatible API (docs/aws.md)')
    .option('--user <email>', 'another user’s keys (list, disable, delete; held at the root)');
  group
    .command('create')
    .description(
      'create an access key of your own, acting in the project (--project); the secret is printed once',
    )
    .action(async (_flags: unknown, command: Command) => {
      const client = cofferClient(command);
      printCreated(command, await client.accessKeys.create('self', await resolveProject(command, client)));
    });
  registerManagement(group, undefined, async () => {
    const user = (group.opts() as { user?: string }).user;
    return user ? { user } : 'self';
  });
}
