import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { CofferClient, ServiceAccountKeyFile, ServiceAccountRef } from '../sdk/index.ts';
import { cofferClient } from './cli-context.ts';
import { CliError } from './cli-error.ts';
import { printList, printResource, printResult } from './cli-output.ts';
import { collect } from './cli-resolve.ts';

/** Resolves an account argument (an email, or a name of the context's project). */
export type AccountResolver = (
  command: Command,
  client: CofferClient,
  account: string,
) => Promise<ServiceAccountRef>;

/**
 * Creates the key file at `path` (mode 0600) before the key exists, refusing to replace a file (a
 * key file is a credential: never clobber one, never widen its mode), so a bad path costs no orphan
 * key; then writes what `create` answers. Any failure leaves no file behind.
 */
async function withKeyFile(
  path: string,
  create: () => Promise<ServiceAccountKeyFile>,
): Promise<ServiceAccountKeyFile> {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'EEXIST'
        ? `${path} exists: choose another --out (a key file is never overwritten)`
        : `cannot create ${path} (${code ?? 'error'})`,
    );
  }
  let written = false;
  try {
    const file = await create();
    try {
      writeSync(fd, `${JSON.stringify(file, null, 2)}\n`);
      fsyncSync(fd);
    } catch (err) {
      throw new CliError(
        `cannot write ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); delete key ${file.privateKeyId}`,
      );
    }
    written = true;
    return file;
  } finally {
    closeSync(fd);
    if (!written) rmSync(path, { force: true });
  }
}

/** `coffer service-accounts keys create|list|describe|disable|enable|delete`. */
export function registerServiceAccountKeysCommands(accounts: Command, accountRef: AccountResolver): void {
  const keys = accounts
    .command('keys')
    .description(
      'key pairs of a service account: a key file lets a machine get tokens (POST /v2/auth/token)',
    );

  keys
    .command('create')
    .description(
      'create a key; the key file (with the private key, shown once) is written to --out at mode 0600',
    )
    .argument('<account>', 'email (or name)')
    .requiredOption('--out <file>', 'where to write the key file; "-" prints it on stdout')
    .addOption(
      new Option('--algorithm <algorithm>', 'signing algorithm')
        .choices(['RS256', 'ES256', 'EdDSA'])
        .default('RS256'),
    )
    .option('--expire-time <time>', 'RFC 3339 time after which the key no longer works')
    .action(
      async (
        account: string,
        flags: { out: string; algorithm: 'RS256' | 'ES256' | 'EdDSA'; expireTime?: string },
        command: Command,
      ) => {
        const client = cofferClient(command);
        const ref = await accountRef(command, client, account);
        const create = () =>
          client.iam.createKey(ref, {
            algorithm: flags.algorithm,
            ...(flags.expireTime ? { expireTime: flags.expireTime } : {}),
          });
        if (flags.out === '-') {
          process.stdout.write(`${JSON.stringify(await create(), null, 2)}\n`);
          return;
        }
        const file = await withKeyFile(flags.out, create);
        const summary = {
          keyId: file.privateKeyId,
          serviceAccount: file.clientEmail,
          algorithm: file.algorithm,
          file: flags.out,
        };
        printResult(
          command,
          summary,
          () =>
            `Created key [${file.privateKeyId}] for [${file.clientEmail}]; wrote ${flags.out} (mode 0600). ` +
            'It holds the private key, which is not shown again.',
        );
      },
    );

  keys
    .command('list')
    .description('list the keys of a service account (never a private key)')
    .argument('<account>', 'email (or name)')
    .action(async (account: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const ref = await accountRef(command, client, account);
      const items = await collect((pageToken) => client.iam.listKeys(ref, pageToken ? { pageToken } : {}));
      printList(command, items, [
        ['key id', (k) => k.keyId],
        ['algorithm', (k) => k.algorithm],
        ['disabled', (k) => k.disabled],
        ['created', (k) => k.createTime],
        ['expires', (k) => k.expireTime ?? 'never'],
      ]);
    });

  keys
    .command('describe')
    .description('show a key (with its public key)')
    .argument('<account>', 'email (or name)')
    .argument('<key-id>', 'key id (from keys list)')
    .action(async (account: string, keyId: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      printResource(command, await client.iam.getKey(await accountRef(command, client, account), keyId));
    });

  for (const action of ['disable', 'enable'] as const) {
    keys
      .command(action)
      .description(
        action === 'disable'
          ? 'disable a key: its exchanges stop and the tokens it yielded are revoked at once'
          : 'enable a disabled key (the tokens revoked by the disable stay revoked)',
      )
      .argument('<account>', 'email (or name)')
      .argument('<key-id>', 'key id (from keys list)')
      .action(async (account: string, keyId: string, _flags: unknown, command: Command) => {
        const client = cofferClient(command);
        const key = await client.iam.setKeyDisabled(
          await accountRef(command, client, account),
          keyId,
          action === 'disable',
        );
        printResult(command, key, () => `Key [${keyId}] is ${action}d.`);
      });
  }

  keys
    .command('delete')
    .description('delete a key: its exchanges stop and the tokens it yielded are revoked at once')
    .argument('<account>', 'email (or name)')
    .argument('<key-id>', 'key id (from keys list)')
    .action(async (account: string, keyId: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      await client.iam.deleteKey(await accountRef(command, client, account), keyId);
      printResult(command, { keyId, deleted: true }, () => `Deleted key [${keyId}].`);
    });
}
