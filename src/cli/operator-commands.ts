import type { Command } from 'commander';
import { CofferClient } from '../sdk/index.ts';
import { registerBackupCommands } from './backup-commands.ts';
import { readStdin } from './cli-input.ts';
import { printResult, remoteOptions } from './cli-output.ts';

/** `coffer operator init|unseal|seal|status|backup|restore`. */
export function registerOperatorCommands(program: Command): void {
  const operator = program.command('operator').description('initialize, unseal, seal and inspect a server');

  operator
    .command('init')
    .description('initialize a Shamir-sealed server; prints the unseal shares and the first admin token ONCE')
    .option('--shares <n>', 'number of unseal shares', '5')
    .option('--threshold <n>', 'shares needed to unseal', '3')
    .action(async (options: { shares: string; threshold: string }, command: Command) => {
      const client = new CofferClient(remoteOptions(command, false));
      const result = await client.init(Number(options.shares), Number(options.threshold));
      printResult(command, result, () =>
        [
          ...result.keys.map((key, i) => `Unseal Key ${i + 1}: ${key}`),
          '',
          `Initial Root Token: ${result.rootToken}`,
          '',
          `Keep the shares apart; ${options.threshold} of them unseal the server. They are not shown again.`,
        ].join('\n'),
      );
    });

  operator
    .command('unseal')
    .description('give one unseal share (read from the argument, or from stdin when omitted)')
    .argument('[key]', 'one base64 share')
    .option('--nonce <nonce>', 'the unseal attempt to continue, as printed after its first share')
    .option('--reset', 'abandon the attempt named by --nonce')
    .action(
      async (key: string | undefined, options: { reset?: boolean; nonce?: string }, command: Command) => {
        const client = new CofferClient(remoteOptions(command, false));
        let share = key;
        if (share === undefined && !options.reset) share = (await readStdin()).toString('utf8').trim();
        const status = await client.unseal(share, options.reset ?? false, undefined, options.nonce);
        printResult(command, status, () =>
          status.sealed && status.nonce
            ? `sealed: true  progress: ${status.progress}/${status.threshold}  nonce: ${status.nonce}\n` +
              `The other share holders run: coffer operator unseal --nonce ${status.nonce}`
            : `sealed: ${status.sealed}  progress: ${status.progress}/${status.threshold}`,
        );
      },
    );

  operator
    .command('seal')
    .description('seal the server (needs the sys.seal permission at the root)')
    .action(async (_options: unknown, command: Command) => {
      const client = new CofferClient(remoteOptions(command, true));
      const status = await client.seal();
      printResult(command, status, () => `sealed: ${status.sealed}`);
    });

  operator
    .command('status')
    .description('show the seal status')
    .action(async (_options: unknown, command: Command) => {
      const client = new CofferClient(remoteOptions(command, false));
      const status = await client.sealStatus();
      printResult(command, status, () =>
        [
          `Seal type     ${status.type}`,
          `Initialized   ${status.initialized}`,
          `Sealed        ${status.sealed}`,
          `Threshold     ${status.threshold}`,
          `Shares        ${status.shares}`,
          `Progress      ${status.progress}/${status.threshold}`,
        ].join('\n'),
      );
    });

  registerBackupCommands(operator);
}
