import type { Command } from 'commander';
import {
  CofferApiError,
  type CreateKeyBody,
  type KeyLifecycleAction,
  type KeyVersionView,
  type KeyView,
} from '../sdk/index.ts';
import { cofferClient } from './cli-context.ts';
import { readDataFile } from './cli-input.ts';
import { CliError, printList, printResource, printResult } from './cli-output.ts';
import { collect, positiveInteger, resolveKey, resolveKeyRing, resolveRegion } from './cli-resolve.ts';
import { registerPolicyCommands } from './policy-commands.ts';
import { durationFlag } from './secrets-commands.ts';

const b64 = (bytes: Buffer) => bytes.toString('base64');

/** Base64 from a flag value or a file holding it (surrounding whitespace ignored). */
async function base64Input(
  inline: string | undefined,
  file: string | undefined,
  name: string,
): Promise<string> {
  if ((inline === undefined) === (file === undefined))
    throw new CliError(`give exactly one of --${name} and --${name}-file`);
  const text = inline ?? (await readDataFile(file!, `--${name}-file`)).toString('utf8');
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(trimmed) || trimmed.length % 4 !== 0)
    throw new CliError(`--${name} must be base64 (as encrypt and sign print it)`);
  return trimmed;
}

function writeRaw(bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    process.stdout.write(bytes, (err) => (err ? reject(err) : resolve())),
  );
}

const keyColumns = [
  ['id', (k: KeyView) => k.id],
  ['slug', (k: KeyView) => k.slug ?? ''],
  ['algorithm', (k: KeyView) => k.algorithm],
  ['purpose', (k: KeyView) => k.purpose],
  ['state', (k: KeyView) => k.state],
  ['primary', (k: KeyView) => k.primaryVersion],
] as const;

/** `coffer kms keyrings|keys|versions …`. */
export function registerKmsCommands(program: Command): void {
  const kms = program.command('kms').description('key rings, keys, key versions and crypto operations');

  const keyrings = kms.command('keyrings').description('key rings');
  keyrings
    .command('create')
    .description('create a key ring')
    .argument('<name>', 'display name')
    .option('--description <text>', 'description')
    .action(async (name: string, flags: { description?: string }, command: Command) => {
      const client = cofferClient(command);
      const ring = await client.kms.createKeyRing(await resolveRegion(command, client), {
        displayName: name,
        ...(flags.description ? { description: flags.description } : {}),
      });
      printResult(command, ring, () => `Created key ring [${ring.displayName}] (${ring.id}).`);
    });
  keyrings
    .command('list')
    .description('list key rings')
    .action(async (_flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const region = await resolveRegion(command, client);
      const items = await collect((pageToken) =>
        client.kms.listKeyRings(region, pageToken ? { pageToken } : {}),
      );
      printList(command, items, [
        ['id', (r) => r.id],
        ['name', (r) => r.displayName],
        ['created', (r) => r.createTime],
      ]);
    });
  keyrings
    .command('describe')
    .description('show a key ring')
    .argument('<keyring>', 'id or display name')
    .action(async (ring: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      printResource(command, await client.kms.getKeyRing(await resolveKeyRing(command, client, ring)));
    });
  registerPolicyCommands(keyrings, '<keyring>', 'a key ring', (command, client, ring) =>
    resolveKeyRing(command, client, ring),
  );

  const keys = kms
    .command('keys')
    .description('keys: lifecycle and crypto operations (binary data as base64)');
  keys
    .command('create')
    .description('create a key (with version 1)')
    .argument('<slug>', 'a slug, unique in the project and region (e.g. db-key)')
    .requiredOption('--keyring <ring>', 'key ring id or display name')
    .requiredOption('--algorithm <algorithm>', 'aes256-gcm96, ed25519, rsa-3072, hmac-sha256, …')
    .option('--purpose <purpose>', 'encrypt_decrypt, sign_verify, decrypt, mac (RSA: sign_verify or decrypt)')
    .option('--display-name <name>', 'display name')
    .option('--rotation-period <seconds>', 'rotate automatically, e.g. 7776000s')
    .action(
      async (
        slug: string,
        flags: {
          keyring: string;
          algorithm: string;
          purpose?: string;
          displayName?: string;
          rotationPeriod?: string;
        },
        command: Command,
      ) => {
        const client = cofferClient(command);
        const ring = await resolveKeyRing(command, client, flags.keyring);
        const key = await client.kms.createKey(ring, {
          slug,
          algorithm: flags.algorithm as CreateKeyBody['algorithm'],
          ...(flags.purpose ? { purpose: flags.purpose as NonNullable<CreateKeyBody['purpose']> } : {}),
          ...(flags.displayName ? { displayName: flags.displayName } : {}),
          ...(flags.rotationPeriod
            ? { rotationPeriod: durationFlag(flags.rotationPeriod, '--rotation-period') }
            : {}),
        });
        printResult(
          command,
          key,
          () => `Created key [${key.slug ?? key.id}] (${key.algorithm}): ${key.name}`,
        );
      },
    );
  keys
    .command('list')
    .description('list the keys of a key ring')
    .requiredOption('--keyring <ring>', 'key ring id or display name')
    .action(async (flags: { keyring: string }, command: Command) => {
      const client = cofferClient(command);
      const ring = await resolveKeyRing(command, client, flags.keyring);
      printList(
        command,
        await collect((pageToken) => client.kms.listKeys(ring, pageToken ? { pageToken } : {})),
        keyColumns,
      );
    });
  keys
    .command('describe')
    .description('show a key (every state)')
    .argument('<key>', 'key id or slug')
    .requiredOption('--keyring <ring>', 'key ring id or display name')
    .action(async (key: string, flags: { keyring: string }, command: Command) => {
      const client = cofferClient(command);
      printResource(command, await client.kms.getKey(await resolveKey(command, client, flags.keyring, key)));
    });
  keys
    .command('rotate')
    .description('add a version and make it primary')
    .argument('<key>', 'key id or slug')
    .requiredOption('--keyring <ring>', 'key ring id or display name')
    .action(async (key: string, flags: { keyring: string }, command: Command) => {
      const client = cofferClient(command);
      const rotated = await client.kms.rotateKey(await resolveKey(command, client, flags.keyring, key));
      printResult(
        command,
        rotated,
        () => `Key [${rotated.slug ?? rotated.id}] now uses version ${rotated.primaryVersion}.`,
      );
    });
  const lifecycle: Array<[KeyLifecycleAction, string]> = [
    ['enable', 'enable a disabled key'],
    ['disable', 'disable a key (crypto and value operations fail with key_not_active)'],
    ['schedule-deletion', 'schedule the destruction of a key after a pending window'],
    ['cancel-deletion', 'cancel a scheduled deletion (the key becomes disabled)'],
  ];
  for (const [action, description] of lifecycle) {
    const sub = keys
      .command(action)
      .description(description)
      .argument('<key>', 'key id or slug')
      .requiredOption('--keyring <ring>', 'key ring id or display name');
    if (action === 'disable' || action === 'schedule-deletion')
      sub.option('--force', 'even when secrets or instances depend on the key');
    if (action === 'schedule-deletion') sub.option('--pending-window-days <days>', '7 to 30 (default 30)');
    sub.action(
      async (
        key: string,
        flags: { keyring: string; force?: boolean; pendingWindowDays?: string },
        command: Command,
      ) => {
        const client = cofferClient(command);
        const ref = await resolveKey(command, client, flags.keyring, key);
        const changed = await client.kms
          .changeKeyState(ref, action, {
            ...(flags.force ? { force: true } : {}),
            ...(flags.pendingWindowDays
              ? { pendingWindowDays: positiveInteger(flags.pendingWindowDays, '--pending-window-days') }
              : {}),
          })
          .catch(async (err: unknown) => {
            if (!(err instanceof CofferApiError) || err.code !== 'conflict' || flags.force) throw err;
            const dependents = await client.kms.getKeyDependents(ref).catch(() => undefined);
            const count = dependents ? dependents.secretCount + dependents.instanceCount : undefined;
            if (count === 0) throw err;
            throw new CliError(
              `${count ?? 'some'} secrets or instances depend on key ${key}; add --force to ${action} it anyway`,
            );
          });
        printResult(
          command,
          changed,
          () =>
            `Key [${changed.slug ?? changed.id}] is ${changed.state}${changed.deletionTime ? ` (destroyed at ${changed.deletionTime})` : ''}.`,
        );
      },
    );
  }
  keys
    .command('encrypt')
    .description('encrypt a file (or stdin); prints the base64 ciphertext')
    .argument('<key>', 'key id or slug')
    .requiredOption('--keyring <ring>', 'key ring id or display name')
    .requiredOption('--plaintext-file <file>', 'a file, or - for stdin (at most 64 KiB)')
    .option('--aad-file <file>', 'additional authenticated data')
    .action(
      async (
        key: string,
        flags: { keyring: string; plaintextFile: string; aadFile?: string },
        command: Command,
      ) => {
        const plaintext = await readDataFile(flags.plaintextFile, '--plaintext-file');
        const aad = flags.aadFile ? await readDataFile(flags.aadFile, '--aad-file') : undefined;
        const client = cofferClient(command);
        const result = await client.kms.encrypt(await resolveKey(command, client, flags.keyring, key), {
          plaintext: b64(plaintext),
          ...(aad ? { aad: b64(aad) } : {}),
        });
        printResult(command, result, () => result.ciphertext);
      },
    );
  keys
    .command('decrypt')
    .description('decrypt a base64 ciphertext; writes the plaintext bytes to stdout')
    .argument('<key>', 'key id or slug')
    .requiredOption('--keyring <ring>', 'key ring id or display name')
    .option('--ciphertext <base64>', 'the ciphertext')
    .option('--ciphertext-file <file>', 'a file holding the base64 ciphertext, or - for stdin')
    .option('--aad-file <file>', 'additional authenticated data')
    .action(
      async (
        key: string,
        flags: { keyring: string; ciphertext?: string; ciphertextFile?: string; aadFile?: string },
        command: Command,
      ) => {
        const ciphertext = await base64Input(flags.ciphertext, flags.ciphertextFile, 'ciphertext');
        const aad = flags.aadFile ? await readDataFile(flags.aadFile, '--aad-file') : undefined;
        const client = cofferClient(command);
        const result = await client.kms.decrypt(await resolveKey(command, client, flags.keyring, key), {
          ciphertext,
          ...(aad ? { aad: b64(aad) } : {}),
        });
        await writeRaw(Buffer.from(result.plaintext, 'base64'));
      },
    );
  keys
    .command('sign')
    .description('sign a file (or stdin); prints the base64 signature')
    .argument('<key>', 'key id or slug')
    .requiredOption('--keyring <ring>', 'key ring id or display name')
    .requiredOption('--data-file <file>', 'the data, or - for stdin')
    .option('--key-version <n>', 'key version (default: the primary)')
    .action(
      async (
        key: string,
        flags: { keyring: string; dataFile: string; keyVersion?: string },
        command: Command,
      ) => {
        const data = await readDataFile(flags.dataFile);
        const client = cofferClient(command);
        const result = await client.kms.sign(await resolveKey(command, client, flags.keyring, key), {
          data: b64(data),
          ...(flags.keyVersion ? { keyVersion: positiveInteger(flags.keyVersion, '--key-version') } : {}),
        });
        printResult(command, result, () => result.signature);
      },
    );
  keys
    .command('verify')
    .description('verify a signature; exits 1 when it is not valid')
    .argument('<key>', 'key id or slug')
    .requiredOption('--keyring <ring>', 'key ring id or display name')
    .requiredOption('--data-file <file>', 'the data, or - for stdin')
    .option('--signature <base64>', 'the signature')
    .option('--signature-file <file>', 'a file holding the base64 signature')
    .option('--key-version <n>', 'key version (default: the primary)')
    .action(
      async (
        key: string,
        flags: {
          keyring: string;
          dataFile: string;
          signature?: string;
          signatureFile?: string;
          keyVersion?: string;
        },
        command: Command,
      ) => {
        const signature = await base64Input(flags.signature, flags.signatureFile, 'signature');
        const data = await readDataFile(flags.dataFile);
        const client = cofferClient(command);
        const result = await client.kms.verify(await resolveKey(command, client, flags.keyring, key), {
          data: b64(data),
          signature,
          ...(flags.keyVersion ? { keyVersion: positiveInteger(flags.keyVersion, '--key-version') } : {}),
        });
        printResult(command, result, () => (result.valid ? 'valid' : 'INVALID'));
        if (!result.valid) process.exitCode = 1;
      },
    );
  registerPolicyCommands(
    keys,
    '<key>',
    'a key',
    (command, client, key) =>
      resolveKey(command, client, (command.opts() as { keyring?: string }).keyring, key),
    (command) => command.requiredOption('--keyring <ring>', 'key ring id or display name'),
  );

  const versions = kms.command('versions').description('key versions');
  const versionColumns = [
    ['version', (v: KeyVersionView) => v.version],
    ['state', (v: KeyVersionView) => v.state],
    ['created', (v: KeyVersionView) => v.createTime],
    ['destroyed', (v: KeyVersionView) => v.destroyTime ?? ''],
  ] as const;
  versions
    .command('list')
    .description('list the versions of a key')
    .requiredOption('--key <key>', 'key id or slug')
    .requiredOption('--keyring <ring>', 'key ring id or display name')
    .action(async (flags: { key: string; keyring: string }, command: Command) => {
      const client = cofferClient(command);
      const key = await resolveKey(command, client, flags.keyring, flags.key);
      printList(
        command,
        await collect((pageToken) => client.kms.listKeyVersions(key, pageToken ? { pageToken } : {})),
        versionColumns,
      );
    });
  versions
    .command('describe')
    .description('show a key version')
    .argument('<version>', 'version number')
    .requiredOption('--key <key>', 'key id or slug')
    .requiredOption('--keyring <ring>', 'key ring id or display name')
    .action(async (version: string, flags: { key: string; keyring: string }, command: Command) => {
      const client = cofferClient(command);
      const key = await resolveKey(command, client, flags.keyring, flags.key);
      printResource(
        command,
        await client.kms.getKeyVersion({ ...key, version: positiveInteger(version, 'VERSION') }),
      );
    });
  const descriptions = {
    enable: 'enable a key version',
    disable: 'disable a key version',
    destroy:
      'destroy a key version: its material is erased for good (at once, or after a window with --force when secrets depend on it)',
    restore: 'cancel a key version’s scheduled destruction (it becomes disabled)',
  } as const;
  for (const action of ['enable', 'disable', 'destroy', 'restore'] as const) {
    const command = versions
      .command(action)
      .description(descriptions[action])
      .argument('<version>', 'version number')
      .requiredOption('--key <key>', 'key id or slug')
      .requiredOption('--keyring <ring>', 'key ring id or display name');
    if (action === 'destroy') {
      command.option('--force', 'schedule the destruction even though secrets depend on the version');
    }
    command.action(
      async (version: string, flags: { key: string; keyring: string; force?: boolean }, cmd: Command) => {
        const client = cofferClient(cmd);
        const key = await resolveKey(cmd, client, flags.keyring, flags.key);
        const result = await client.kms.setKeyVersionState(
          { ...key, version: positiveInteger(version, 'VERSION') },
          action,
          undefined,
          flags.force ? { force: true } : {},
        );
        const when =
          result.destroyTime && result.state === 'destroy_scheduled'
            ? ` (destroyed at ${result.destroyTime})`
            : '';
        printResult(cmd, result, () => `Key version [${result.version}] is ${result.state}${when}.`);
      },
    );
  }
}
