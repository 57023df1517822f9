import type { Command } from 'commander';
import type { CofferClient, InstanceBody, InstanceView, RegionRef } from '../sdk/index.ts';
import { cofferClient } from './cli-context.ts';
import { CliError, printList, printResource, printResult } from './cli-output.ts';
import { collect, positiveInteger, resolveInstance, resolveKey, resolveRegion } from './cli-resolve.ts';
import { waitForOperation } from './operations-commands.ts';
import { registerPolicyCommands } from './policy-commands.ts';

interface KmsKeyFlags {
  kmsKeyring?: string;
  kmsKey?: string;
  kmsKeyVersion?: string;
  kmsServiceAccount?: string;
}

/** Seed 002's kmsKey object from flags, or undefined when no --kms-key is given. */
async function kmsKeyObject(
  command: Command,
  client: CofferClient,
  region: RegionRef,
  flags: KmsKeyFlags,
): Promise<InstanceBody['kmsKey']> {
  if (!flags.kmsKey) {
    if (flags.kmsKeyring || flags.kmsKeyVersion || flags.kmsServiceAccount)
      throw new CliError('--kms-keyring, --kms-key-version and --kms-service-account go with --kms-key');
    return undefined;
  }
  if (!flags.kmsServiceAccount)
    throw new CliError('--kms-key needs --kms-service-account (the identity KMS operations run as)');
  const key = await resolveKey(command, client, flags.kmsKeyring, flags.kmsKey);
  const keyVersion =
    flags.kmsKeyVersion !== undefined
      ? positiveInteger(flags.kmsKeyVersion, '--kms-key-version')
      : (await client.kms.getKey(key)).primaryVersion;
  return {
    regionId: region.regionId,
    projectId: region.projectId,
    serviceAccountEmail: flags.kmsServiceAccount,
    keyRingId: key.keyRingId,
    keyId: key.keyId,
    keyVersion,
  };
}

function kmsKeyText(instance: InstanceView): string {
  return instance.kmsKey
    ? `${instance.kmsKey.keyRingId}/${instance.kmsKey.keyId} v${instance.kmsKey.keyVersion}`
    : '';
}

const kmsOptions = (command: Command) =>
  command
    .option('--kms-keyring <ring>', 'key ring of --kms-key (id or display name)')
    .option('--kms-key <key>', 'symmetric KMS key that protects the values (id or slug)')
    .option('--kms-key-version <n>', 'key version (default: the primary)')
    .option('--kms-service-account <email>', 'service account KMS operations run as');

/** `coffer instances create|list|describe|update|delete`. */
export function registerInstancesCommands(program: Command): void {
  const instances = program
    .command('instances')
    .description('Secrets Manager instances of a project and region');

  kmsOptions(
    instances
      .command('create')
      .description('create an instance, optionally protected by a KMS key (seed 002)')
      .argument('<name>', 'instance name'),
  ).action(async (name: string, flags: KmsKeyFlags, command: Command) => {
    const client = cofferClient(command);
    const region = await resolveRegion(command, client);
    const kmsKey = await kmsKeyObject(command, client, region, flags);
    const instance = await client.secrets.createInstance(region, { name, ...(kmsKey ? { kmsKey } : {}) });
    printResult(command, instance, () => `Created instance [${instance.name}] (${instance.id}).`);
  });

  instances
    .command('list')
    .description('list the instances of the region')
    .action(async (_flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const region = await resolveRegion(command, client);
      const items = await collect((pageToken) =>
        client.secrets.listInstances(region, pageToken ? { pageToken } : {}),
      );
      printList(command, items, [
        ['id', (i) => i.id],
        ['name', (i) => i.name],
        ['kms key', kmsKeyText],
        ['created', (i) => i.createTime],
      ]);
    });

  instances
    .command('describe')
    .description('show an instance')
    .argument('<instance>', 'instance id or name')
    .action(async (wanted: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      printResource(
        command,
        await client.secrets.getInstance(await resolveInstance(command, client, wanted)),
      );
    });

  kmsOptions(
    instances
      .command('update')
      .description('rename an instance, or switch or remove its key (a switch rewraps every value)')
      .argument('<instance>', 'instance id or name')
      .option('--name <name>', 'new name')
      .option('--clear-kms-key', 'remove the KMS key (values fall back to the built-in root-key protection)')
      .option('--async', 'do not wait for the rewrap operation'),
  ).action(
    async (
      wanted: string,
      flags: KmsKeyFlags & { name?: string; clearKmsKey?: boolean; async?: boolean },
      command: Command,
    ) => {
      if (flags.clearKmsKey && flags.kmsKey)
        throw new CliError('--clear-kms-key cannot be combined with --kms-key');
      if (!flags.name && !flags.kmsKey && !flags.clearKmsKey)
        throw new CliError('nothing to update: give --name, --kms-key or --clear-kms-key');
      const client = cofferClient(command);
      const ref = await resolveInstance(command, client, wanted);
      const current = await client.secrets.getInstance(ref);
      const kmsKey = flags.clearKmsKey
        ? null
        : ((await kmsKeyObject(command, client, ref, flags)) ?? current.kmsKey);
      const instance = await client.secrets.updateInstance(ref, {
        name: flags.name ?? current.name,
        kmsKey,
        etag: current.etag,
      });
      if (instance.operation && !flags.async) {
        await waitForOperation(command, client, { ...ref, operationId: instance.operation.id });
        return;
      }
      printResult(command, instance, () =>
        instance.operation
          ? `Updated instance [${instance.name}]; rewrap operation ${instance.operation.id} started ("coffer operations wait ${instance.operation.id}").`
          : `Updated instance [${instance.name}].`,
      );
    },
  );

  instances
    .command('delete')
    .description('delete an empty instance')
    .argument('<instance>', 'instance id or name')
    .action(async (wanted: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const ref = await resolveInstance(command, client, wanted);
      await client.secrets.deleteInstance(ref);
      printResult(
        command,
        { id: ref.instanceId, deleted: true },
        () => `Deleted instance [${ref.instanceId}].`,
      );
    });

  registerPolicyCommands(instances, '<instance>', 'an instance', (command, client, wanted) =>
    resolveInstance(command, client, wanted),
  );
}
