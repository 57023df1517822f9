import type { Command } from 'commander';
import { cofferClient } from './cli-context.ts';
import { printList, printResult } from './cli-output.ts';

/** `coffer users disable|enable|sessions list|sessions revoke` and `coffer root-token rotate`. */
export function registerUsersCommands(program: Command): void {
  const users = program.command('users').description('users: disable, enable, and their sessions');
  for (const action of ['disable', 'enable'] as const) {
    users
      .command(action)
      .description(
        action === 'disable'
          ? 'disable a user: its logins are refused and its sessions end at once'
          : 'enable a disabled user (its old sessions stay ended)',
      )
      .argument('<email>', 'the user’s email')
      .action(async (email: string, _flags: unknown, command: Command) => {
        const result = await cofferClient(command).iam.setUserDisabled(email, action === 'disable');
        printResult(command, result, () => `User [${result.email}] is ${action}d.`);
      });
  }
  const sessions = users.command('sessions').description('a user’s sessions (login tokens)');
  sessions
    .command('list')
    .description('list a user’s live sessions (never the tokens themselves)')
    .argument('<email>', 'the user’s email')
    .action(async (email: string, _flags: unknown, command: Command) => {
      const page = await cofferClient(command).iam.listUserTokens(email);
      printList(command, page.items, [
        ['id', (t) => t.id],
        ['created', (t) => t.createTime],
        ['expires', (t) => t.expireTime ?? 'never'],
      ]);
    });
  sessions
    .command('revoke')
    .description('end one of a user’s sessions at once')
    .argument('<email>', 'the user’s email')
    .argument('<token-id>', 'session id (from sessions list)')
    .action(async (email: string, tokenId: string, _flags: unknown, command: Command) => {
      await cofferClient(command).iam.revokeUserToken(email, tokenId);
      printResult(command, { id: tokenId, revoked: true }, () => `Ended session [${tokenId}].`);
    });

  program
    .command('root-token')
    .description('the first admin’s root token')
    .command('rotate')
    .description('replace the root token; the old one stops working; the new one is printed once, on stdout')
    .action(async (_flags: unknown, command: Command) => {
      const issued = await cofferClient(command).iam.rotateRootToken();
      printResult(command, issued, () => issued.token);
      if (process.stdout.isTTY)
        process.stderr.write(
          `Root token ${issued.id}. It is not shown again; the old one no longer works.\n`,
        );
    });
}
