import type { Command } from 'commander';
import type { CreateSecretBody, PatchSecretBody, SecretView } from '../sdk/index.ts';
import { secretValueFields } from '../sdk/index.ts';
import { cofferClient } from './cli-context.ts';
import { parseKeyValues, readDataFile } from './cli-input.ts';
import { CliError, printList, printResource, printResult } from './cli-output.ts';
import { collect, resolveInstance, resolveSecret } from './cli-resolve.ts';
import { registerPolicyCommands } from './policy-commands.ts';
import { addRotatorOptions, mergeRotation, type RotatorFlags, rotatorFromFlags } from './rotation-flags.ts';
import { registerSecretVersionCommands } from './secret-versions-commands.ts';

/** A duration flag: `3600s` as is, bare digits as seconds. */
export function durationFlag(value: string, flag: string): string | number {
  if (/^\d+$/.test(value)) return Number(value);
  if (/^\d+(\.\d+)?s$/.test(value)) return value;
  throw new CliError(`${flag} takes seconds, e.g. 3600 or 3600s, not "${value}"`);
}

function timeFlag(value: string, flag: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new CliError(`${flag} takes an RFC 3339 time, e.g. 2030-01-31T00:00:00Z`);
  return new Date(ms).toISOString();
}

function secretState(secret: SecretView): string {
  return secret.deleteTime ? `pending deletion until ${secret.deleteTime}` : 'active';
}

interface CreateFlags extends RotatorFlags {
  dataFile?: string;
  kmsKey?: string;
  labels?: string;
  annotations?: string;
  ttl?: string;
  expireTime?: string;
  rotationPeriod?: string;
  nextRotationTime?: string;
}

interface UpdateFlags extends RotatorFlags {
  labels?: string;
  annotations?: string;
  ttl?: string;
  expireTime?: string;
  clearExpiry?: boolean;
  rotationPeriod?: string;
  nextRotationTime?: string;
  clearRotation?: boolean;
  clearRotator?: boolean;
}

/** `coffer secrets …`: create, list, describe, update, delete, restore, IAM, versions and stages. */
export function registerSecretsCommands(program: Command): void {
  const secrets = program.command('secrets').description('manage secrets (in the instance of the context)');

  addRotatorOptions(secrets.command('create'))
    .description('create a secret, with its first version from --data-file (- reads stdin)')
    .argument('<path>', 'secret path, e.g. prod/db/password')
    .option('--data-file <file>', 'the first value: a file, or - for stdin (bytes as given)')
    .option('--kms-key <key>', 'KMS key to bind (slug or full name); immutable. Default: the instance key')
    .option('--labels <k=v,...>', 'labels')
    .option('--annotations <k=v,...>', 'annotations')
    .option('--ttl <seconds>', 'purge the secret after this long, e.g. 86400s')
    .option('--expire-time <time>', 'purge the secret at this RFC 3339 time')
    .option('--rotation-period <seconds>', 'rotation schedule period, e.g. 2592000s')
    .option('--next-rotation-time <time>', 'first rotation time (RFC 3339)')
    .action(async (path: string, flags: CreateFlags, command: Command) => {
      if (flags.nextRotationTime && !flags.rotationPeriod)
        throw new CliError('--next-rotation-time needs --rotation-period');
      const rotator = rotatorFromFlags(flags);
      const data = flags.dataFile === undefined ? undefined : await readDataFile(flags.dataFile);
      const body: CreateSecretBody = {
        path,
        ...(flags.kmsKey ? { kmsKeyIdentity: flags.kmsKey } : {}),
        ...(flags.labels !== undefined ? { labels: parseKeyValues(flags.labels, '--labels') } : {}),
        ...(flags.annotations !== undefined
          ? { annotations: parseKeyValues(flags.annotations, '--annotations') }
          : {}),
        ...(flags.ttl ? { ttl: durationFlag(flags.ttl, '--ttl') } : {}),
        ...(flags.expireTime ? { expireTime: timeFlag(flags.expireTime, '--expire-time') } : {}),
        ...(flags.rotationPeriod || rotator
          ? {
              rotation: {
                ...(flags.rotationPeriod
                  ? { period: durationFlag(flags.rotationPeriod, '--rotation-period') }
                  : {}),
                ...(flags.nextRotationTime
                  ? { nextRotationTime: timeFlag(flags.nextRotationTime, '--next-rotation-time') }
                  : {}),
                ...(rotator ? { rotator } : {}),
              },
            }
          : {}),
        ...(data !== undefined ? secretValueFields(data) : {}),
      };
      const client = cofferClient(command);
      const secret = await client.secrets.createSecret(await resolveInstance(command, client), body);
      printResult(command, secret, () =>
        secret.latestVersion > 0
          ? `Created secret [${secret.path}] with version [${secret.latestVersion}].`
          : `Created secret [${secret.path}] (no version yet; add one with "coffer secrets versions add").`,
      );
    });

  secrets
    .command('list')
    .description('list secrets (metadata only)')
    .option('--prefix <prefix>', 'only paths starting with this')
    .option('--limit <n>', 'at most this many')
    .action(async (flags: { prefix?: string; limit?: string }, command: Command) => {
      const client = cofferClient(command);
      const instance = await resolveInstance(command, client);
      const items = await collect(
        (pageToken) =>
          client.secrets.listSecrets(instance, {
            ...(flags.prefix ? { prefix: flags.prefix } : {}),
            ...(pageToken ? { pageToken } : {}),
          }),
        flags.limit === undefined ? undefined : Number(flags.limit),
      );
      printList(command, items, [
        ['path', (s) => s.path],
        ['latest', (s) => s.latestVersion],
        ['kms key', (s) => s.kmsKey.identity ?? '(root key)'],
        ['key status', (s) => s.kmsKey.status],
        ['state', secretState],
        ['created', (s) => s.createTime],
      ]);
    });

  secrets
    .command('describe')
    .description("show a secret's metadata")
    .argument('<path>', 'secret path')
    .action(async (path: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      printResource(command, await client.secrets.getSecret(await resolveSecret(command, client, path)));
    });

  addRotatorOptions(secrets.command('update'))
    .description("change a secret's labels, annotations, expiry or rotation (the KMS key is immutable)")
    .argument('<path>', 'secret path')
    .option('--labels <k=v,...>', 'replace the labels')
    .option('--annotations <k=v,...>', 'replace the annotations')
    .option('--ttl <seconds>', 'expire this long from now')
    .option('--expire-time <time>', 'expire at this RFC 3339 time')
    .option('--clear-expiry', 'remove the expiry')
    .option('--rotation-period <seconds>', 'set the rotation period')
    .option('--next-rotation-time <time>', 'set the next rotation time (with --rotation-period)')
    .option('--clear-rotation', 'remove the rotation schedule and rotator')
    .option('--clear-rotator', 'remove the rotator (a schedule stays)')
    .action(async (path: string, flags: UpdateFlags, command: Command) => {
      if (flags.clearExpiry && (flags.ttl || flags.expireTime))
        throw new CliError('--clear-expiry cannot be combined with --ttl or --expire-time');
      const rotator = rotatorFromFlags(flags);
      if (flags.clearRotation && (flags.rotationPeriod || rotator || flags.clearRotator))
        throw new CliError('--clear-rotation cannot be combined with --rotation-period or --rotator flags');
      if (flags.clearRotator && rotator)
        throw new CliError('--clear-rotator cannot be combined with --rotator');
      if (flags.nextRotationTime && !flags.rotationPeriod)
        throw new CliError('--next-rotation-time needs --rotation-period');
      const body: PatchSecretBody = {
        ...(flags.labels !== undefined ? { labels: parseKeyValues(flags.labels, '--labels') } : {}),
        ...(flags.annotations !== undefined
          ? { annotations: parseKeyValues(flags.annotations, '--annotations') }
          : {}),
        ...(flags.ttl ? { ttl: durationFlag(flags.ttl, '--ttl') } : {}),
        ...(flags.expireTime ? { expireTime: timeFlag(flags.expireTime, '--expire-time') } : {}),
        ...(flags.clearExpiry ? { expireTime: null } : {}),
        ...(flags.clearRotation ? { rotation: null } : {}),
      };
      const changesRotation = flags.rotationPeriod || rotator || flags.clearRotator;
      if (Object.keys(body).length === 0 && !changesRotation)
        throw new CliError('nothing to update: give at least one flag');
      const client = cofferClient(command);
      const ref = await resolveSecret(command, client, path);
      if (changesRotation) {
        // A PATCH replaces the whole rotation: keep the part no flag changes, as the secret has it now.
        const now = await client.secrets.getSecret(ref);
        const rotation = mergeRotation(now.rotation, {
          ...(flags.rotationPeriod
            ? { period: durationFlag(flags.rotationPeriod, '--rotation-period') }
            : {}),
          ...(flags.nextRotationTime
            ? { nextRotationTime: timeFlag(flags.nextRotationTime, '--next-rotation-time') }
            : {}),
          ...(rotator ? { rotator } : {}),
          ...(flags.clearRotator ? { clearRotator: true } : {}),
        });
        Object.assign(body, { rotation, etag: now.etag });
      }
      const secret = await client.secrets.patchSecret(ref, body);
      printResult(command, secret, () => `Updated secret [${secret.path}].`);
    });

  secrets
    .command('delete')
    .description('delete a secret after a recovery window (0 purges it now, with every version)')
    .argument('<path>', 'secret path')
    .option('--recovery-window-days <days>', 'days it stays restorable (0-30, default 7)')
    .action(async (path: string, flags: { recoveryWindowDays?: string }, command: Command) => {
      const days = flags.recoveryWindowDays === undefined ? undefined : Number(flags.recoveryWindowDays);
      if (days !== undefined && (!Number.isInteger(days) || days < 0 || days > 30))
        throw new CliError('--recovery-window-days takes a whole number from 0 to 30');
      const client = cofferClient(command);
      const secret = await client.secrets.deleteSecret(
        await resolveSecret(command, client, path),
        days === undefined ? {} : { recoveryWindowDays: days },
      );
      printResult(command, secret ?? { path, purged: true }, () =>
        secret
          ? `Deleted secret [${path}]; restorable until ${secret.deleteTime} with "coffer secrets restore ${path}".`
          : `Purged secret [${path}].`,
      );
    });

  secrets
    .command('restore')
    .description('restore a secret pending deletion')
    .argument('<path>', 'secret path')
    .action(async (path: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const secret = await client.secrets.restoreSecret(await resolveSecret(command, client, path));
      printResult(command, secret, () => `Restored secret [${secret.path}].`);
    });

  secrets
    .command('rotate')
    .description(
      "rotate a secret now with its rotator (create, set, test, finish; the old value stays 'previous')",
    )
    .argument('<path>', 'secret path')
    .action(async (path: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      // One attempt: a failed step (target_failed, 503) is the engine's to retry, with its backoff.
      const rotated = await client.secrets.rotateSecret(await resolveSecret(command, client, path), {
        maxAttempts: 1,
      });
      printResult(
        command,
        rotated,
        () => `Rotated secret [${path}]: version [${rotated.version}] is current.`,
      );
    });

  registerPolicyCommands(secrets, '<path>', 'a secret', (command, client, path) =>
    resolveSecret(command, client, path),
  );
  registerSecretVersionCommands(secrets);
}
