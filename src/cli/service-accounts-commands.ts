import type { Command } from 'commander';
import type { CofferClient, ServiceAccountRef } from '../sdk/index.ts';
import { cofferClient } from './cli-context.ts';
import { printList, printResource, printResult } from './cli-output.ts';
import { collect, resolveProject } from './cli-resolve.ts';
import { registerPolicyCommands } from './policy-commands.ts';
import { registerServiceAccountAccessKeysCommands } from './access-keys-commands.ts';
import { registerServiceAccountKeysCommands } from './service-account-keys-commands.ts';
import { durationFlag } from './secrets-commands.ts';

/** A service account of the context's project; a bare name becomes its default email. */
async function accountRef(
  command: Command,
  client: CofferClient,
  account: string,
): Promise<ServiceAccountRef> {
  const projectId = await resolveProject(command, client);
  const email = account.includes('@') ? account : `${account}@${projectId}.iam.coffer.internal`;
  return { projectId, email };
}

/**
 * `coffer service-accounts create|list|describe|disable|enable`, `… tokens create|list|revoke` and
 * `… keys create|list|describe|disable|enable|delete`.
 */
export function registerServiceAccountsCommands(program: Command): void {
  const accounts = program
    .command('service-accounts')
    .description('service accounts of a project (identities for programs) and their API tokens');

  accounts
    .command('create')
    .description('create a service account; its email is NAME@PROJECT.iam.coffer.internal unless --email')
    .argument('<name>', '6 to 30 characters')
    .option('--display-name <name>', 'display name')
    .option('--email <email>', 'choose the email')
    .action(async (name: string, flags: { displayName?: string; email?: string }, command: Command) => {
      const client = cofferClient(command);
      const account = await client.iam.createServiceAccount(
        { projectId: await resolveProject(command, client) },
        {
          name,
          ...(flags.displayName ? { displayName: flags.displayName } : {}),
          ...(flags.email ? { email: flags.email } : {}),
        },
      );
      printResult(command, account, () => `Created service account [${account.email}].`);
    });

  accounts
    .command('list')
    .description('list the service accounts of the project')
    .action(async (_flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const project = { projectId: await resolveProject(command, client) };
      const items = await collect((pageToken) =>
        client.iam.listServiceAccounts(project, pageToken ? { pageToken } : {}),
      );
      printList(command, items, [
        ['email', (a) => a.email],
        ['display name', (a) => a.displayName],
        ['disabled', (a) => a.disabled],
        ['created', (a) => a.createTime],
      ]);
    });

  accounts
    .command('describe')
    .description('show a service account')
    .argument('<account>', 'email (or name)')
    .action(async (account: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      printResource(command, await client.iam.getServiceAccount(await accountRef(command, client, account)));
    });

  for (const action of ['disable', 'enable'] as const) {
    accounts
      .command(action)
      .description(
        action === 'disable'
          ? 'disable a service account (its tokens stop working)'
          : 'enable a service account',
      )
      .argument('<account>', 'email (or name)')
      .action(async (account: string, _flags: unknown, command: Command) => {
        const client = cofferClient(command);
        const result = await client.iam.setServiceAccountDisabled(
          await accountRef(command, client, account),
          action === 'disable',
        );
        printResult(command, result, () => `Service account [${result.email}] is ${action}d.`);
      });
  }

  registerPolicyCommands(accounts, '<account>', 'a service account', (command, client, account) =>
    accountRef(command, client, account),
  );

  registerServiceAccountKeysCommands(accounts, accountRef);
  registerServiceAccountAccessKeysCommands(accounts, accountRef);

  const tokens = accounts.command('tokens').description('API tokens of a service account');
  tokens
    .command('create')
    .description('issue an API token; it is shown once, on stdout')
    .argument('<account>', 'email (or name)')
    .option('--ttl <seconds>', 'lifetime, e.g. 86400s (default: no expiry)')
    .action(async (account: string, flags: { ttl?: string }, command: Command) => {
      const client = cofferClient(command);
      const issued = await client.iam.createToken(
        await accountRef(command, client, account),
        flags.ttl ? { ttl: durationFlag(flags.ttl, '--ttl') } : {},
      );
      printResult(command, issued, () => issued.token);
      if (process.stdout.isTTY)
        process.stderr.write(
          `Token ${issued.id}${issued.expireTime ? `, expires ${issued.expireTime}` : ''}. It is not shown again.\n`,
        );
    });
  tokens
    .command('list')
    .description('list the tokens of a service account (never the tokens themselves)')
    .argument('<account>', 'email (or name)')
    .action(async (account: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const page = await client.iam.listTokens(await accountRef(command, client, account));
      printList(command, page.items, [
        ['id', (t) => t.id],
        ['created', (t) => t.createTime],
        ['expires', (t) => t.expireTime ?? 'never'],
      ]);
    });
  tokens
    .command('revoke')
    .description('revoke a token')
    .argument('<account>', 'email (or name)')
    .argument('<token-id>', 'token id (from tokens list)')
    .action(async (account: string, tokenId: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      await client.iam.revokeToken(await accountRef(command, client, account), tokenId);
      printResult(command, { id: tokenId, revoked: true }, () => `Revoked token [${tokenId}].`);
    });
}
