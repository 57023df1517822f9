import { type Static, Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import type { KmsPurpose } from '../../crypto/kms-algorithms.ts';
import { ensureAwsManagedKey } from '../../kms/kms-alias-service.ts';
import { awsKeyRingId } from '../../kms/kms-key-extras-service.ts';
import type { CryptoKey } from '../../kms/kms-types.ts';
import { isCofferError } from '../../core/errors.ts';
import { AwsError } from '../aws-errors.ts';
import { type AwsCall, type AwsOperation, awsOperation } from '../aws-operation.ts';
import { findKmsKey, locationOf, parseKeyId, placeholderKeyName } from './key-ids.ts';
import { authorizedKey, managedKey } from './key-access.ts';
import {
  afterMarker,
  algorithmOfSpec,
  awsKeySpecs,
  epochSeconds,
  GrantTokensField,
  KeyIdField,
  keyArn,
  keyMetadata,
  pageOf,
  Paging,
} from './kms-shapes.ts';
import { checkPolicy, TagList, tagsOf } from './tag-policy-ops.ts';

const KeyUsageField = Type.Union([
  Type.Literal('ENCRYPT_DECRYPT'),
  Type.Literal('SIGN_VERIFY'),
  Type.Literal('GENERATE_VERIFY_MAC'),
  Type.Literal('KEY_AGREEMENT'),
]);

const CreateKeyInput = Type.Object({
  Policy: Type.Optional(Type.String({ minLength: 1, maxLength: 32768 })),
  Description: Type.Optional(Type.String({ maxLength: 8192 })),
  KeyUsage: Type.Optional(KeyUsageField),
  CustomerMasterKeySpec: Type.Optional(Type.String()),
  KeySpec: Type.Optional(Type.String()),
  Origin: Type.Optional(Type.String()),
  CustomKeyStoreId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  BypassPolicyLockoutSafetyCheck: Type.Optional(Type.Boolean()),
  Tags: Type.Optional(TagList),
  MultiRegion: Type.Optional(Type.Boolean()),
  XksKeyId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});

const unsupported = (message: string) => new AwsError('UnsupportedOperationException', message);

/** The Coffer algorithm and purpose a CreateKey asks for (AWS's rules on KeySpec and KeyUsage). */
function algorithmOf(input: Static<typeof CreateKeyInput>) {
  if (input.KeySpec !== undefined && input.CustomerMasterKeySpec !== undefined)
    throw new AwsError('ValidationException', 'KeySpec and CustomerMasterKeySpec cannot both be specified.');
  const spec = input.KeySpec ?? input.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT';
  if (!awsKeySpecs.includes(spec))
    throw new AwsError('ValidationException', `KeySpec ${spec} is not a valid key spec.`);
  const algorithm = algorithmOfSpec[spec];
  if (!algorithm)
    throw unsupported(`Coffer does not offer KeySpec ${spec} (docs/aws.md lists the specs it has).`);
  if (input.KeyUsage === undefined && spec !== 'SYMMETRIC_DEFAULT')
    throw new AwsError(
      'ValidationException',
      'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.',
    );
  const usage = input.KeyUsage ?? 'ENCRYPT_DECRYPT';
  if (usage === 'KEY_AGREEMENT')
    throw unsupported('Coffer has no key agreement keys (KeyUsage KEY_AGREEMENT).');
  const allowed: Record<string, Partial<Record<string, KmsPurpose>>> = {
    SYMMETRIC_DEFAULT: { ENCRYPT_DECRYPT: 'encrypt_decrypt' },
    RSA: { ENCRYPT_DECRYPT: 'decrypt', SIGN_VERIFY: 'sign_verify' },
    ECC: { SIGN_VERIFY: 'sign_verify' },
    HMAC: { GENERATE_VERIFY_MAC: 'mac' },
  };
  const purpose =
    allowed[spec.split('_')[0] === 'SYMMETRIC' ? 'SYMMETRIC_DEFAULT' : spec.split('_')[0]!]?.[usage];
  if (!purpose)
    throw new AwsError('ValidationException', `KeyUsage ${usage} is not compatible with KeySpec ${spec}.`);
  return { algorithm, purpose };
}

async function createKey(call: AwsCall, app: App, input: Static<typeof CreateKeyInput>) {
  const location = locationOf(call);
  await call.authorize(
    'kms.keys.create',
    `projects/${call.projectId}/regions/${call.regionId}/keyrings/${awsKeyRingId}`,
  );
  await app.projects.requireFeature(call.projectId, 'kms');
  if (input.Origin !== undefined && input.Origin !== 'AWS_KMS')
    throw unsupported(
      `Origin ${input.Origin} is not supported: Coffer generates all key material (AWS_KMS).`,
    );
  if (input.CustomKeyStoreId !== undefined || input.XksKeyId !== undefined)
    throw new AwsError('CustomKeyStoreNotFoundException', 'Coffer has no custom key stores.');
  if (input.MultiRegion) throw unsupported('Coffer has no multi-Region keys: each key lives in one region.');
  const { algorithm, purpose } = algorithmOf(input);
  if (input.Policy !== undefined) checkPolicy(input.Policy);
  const tags = tagsOf(input.Tags ?? []);
  const key = await app.kmsKeyExtras.createKey(
    location,
    { algorithm, purpose },
    {
      description: input.Description ?? '',
      ...(input.Policy !== undefined ? { policy: input.Policy } : {}),
      tags,
    },
  );
  call.auditDetails.keyId = key.id;
  return { KeyMetadata: keyMetadata(call, key, await app.kmsKeyExtras.attributes(key)) };
}

const KeyOnly = Type.Object({ KeyId: KeyIdField });

/**
 * Coffer's seed 000 rule holds on this face too: a key that secrets or instances depend on is not
 * disabled or scheduled for deletion without `force`, which only the native API takes (after its
 * dependents were looked at). AWS has no such rail; its closest answer is KMSInvalidStateException,
 * with a message that says why and what to do.
 */
async function dependentsRule<T>(change: () => Promise<T>): Promise<T> {
  try {
    return await change();
  } catch (err) {
    if (isCofferError(err, 'conflict') && /depend on this key/.test(err.message))
      throw new AwsError(
        'KMSInvalidStateException',
        `${err.message.replace(/ \(GET …\/dependents\); repeat with \?force=true to proceed\./, '')}. Coffer keeps a key that secrets or instances depend on usable: list them with GET …/keys/{key}/dependents and disable or schedule the key through the native API with ?force=true.`,
      );
    throw err;
  }
}

/**
 * AWS: DescribeKey on a predefined AWS alias that names no key yet makes the AWS managed key and
 * describes it. Coffer's one AWS managed key is Secrets Manager's (`alias/aws/secretsmanager`, the
 * key its Secrets Manager face makes on first use): made here too, after kms.keys.get on the name the
 * alias has before it exists; other `alias/aws/…` names stay NotFoundException.
 */
async function ensurePredefinedAlias(call: AwsCall, app: App, keyId: string): Promise<void> {
  const target = parseKeyId(call, keyId);
  if (!target || !('alias' in target) || target.alias !== 'alias/aws/secretsmanager') return;
  if (await findKmsKey(call, app, keyId)) return;
  await call.authorize('kms.keys.get', placeholderKeyName(call, keyId));
  await app.projects.requireFeature(call.projectId, 'kms');
  await ensureAwsManagedKey(app, call.projectId, call.regionId, 'secretsmanager');
}
const DescribeKeyInput = Type.Object({ KeyId: KeyIdField, GrantTokens: Type.Optional(GrantTokensField) });

const lifecycle = (
  app: App,
  permission: 'kms.keys.enable' | 'kms.keys.disable' | 'kms.keys.cancel_deletion',
  action: 'enable' | 'disable' | 'cancel_deletion',
) =>
  awsOperation({
    input: KeyOnly,
    changesState: true,
    handler: async (call, input) => {
      const key = await managedKey(call, app, input.KeyId, permission, { change: true });
      await dependentsRule(() => app.kms.changeState(key, key.keyRingId, key.id, action));
      return action === 'cancel_deletion' ? { KeyId: keyArn(call, key.id) } : {};
    },
  });

/** KMS key operations: create, describe, list, description, enable/disable, deletion. */
export function keyOperations(app: App): Record<string, AwsOperation> {
  return {
    CreateKey: awsOperation({
      input: CreateKeyInput,
      changesState: true,
      handler: (call, input) => createKey(call, app, input),
    }),
    DescribeKey: awsOperation({
      input: DescribeKeyInput,
      changesState: false,
      handler: async (call, input) => {
        await ensurePredefinedAlias(call, app, input.KeyId);
        const key = await authorizedKey(call, app, input.KeyId, {
          permission: 'kms.keys.get',
          grant: 'DescribeKey',
        });
        return { KeyMetadata: keyMetadata(call, key, await app.kmsKeyExtras.attributes(key)) };
      },
    }),
    ListKeys: awsOperation({
      input: Type.Object(Paging),
      changesState: false,
      handler: async (call, input) => {
        await call.authorize('kms.keys.list', `projects/${call.projectId}/regions/${call.regionId}`);
        await app.projects.requireFeature(call.projectId, 'kms');
        const limit = input.Limit ?? 100;
        const rows = await app.kmsKeyExtras.listKeys(locationOf(call), afterMarker(input.Marker), limit + 1);
        const { items, paging } = pageOf(rows, limit, (k: CryptoKey) => k.uid);
        return { Keys: items.map((k) => ({ KeyId: k.id, KeyArn: keyArn(call, k.id) })), ...paging };
      },
    }),
    UpdateKeyDescription: awsOperation({
      input: Type.Object({ KeyId: KeyIdField, Description: Type.String({ maxLength: 8192 }) }),
      changesState: true,
      handler: async (call, input) => {
        const key = await managedKey(call, app, input.KeyId, 'kms.keys.update', { change: true });
        await app.kmsKeyExtras.setDescription(key, input.Description);
        return {};
      },
    }),
    EnableKey: lifecycle(app, 'kms.keys.enable', 'enable'),
    DisableKey: lifecycle(app, 'kms.keys.disable', 'disable'),
    CancelKeyDeletion: lifecycle(app, 'kms.keys.cancel_deletion', 'cancel_deletion'),
    ScheduleKeyDeletion: awsOperation({
      input: Type.Object({
        KeyId: KeyIdField,
        PendingWindowInDays: Type.Optional(Type.Integer({ minimum: 7, maximum: 30 })),
      }),
      changesState: true,
      handler: async (call, input) => {
        const key = await managedKey(call, app, input.KeyId, 'kms.keys.schedule_deletion', { change: true });
        const days = input.PendingWindowInDays ?? 30;
        const changed = await dependentsRule(() =>
          app.kms.changeState(key, key.keyRingId, key.id, 'schedule_deletion', { pendingWindowDays: days }),
        );
        return {
          KeyId: keyArn(call, key.id),
          DeletionDate: epochSeconds(changed.deletionTimeMs!),
          KeyState: 'PendingDeletion',
          PendingWindowInDays: days,
        };
      },
    }),
  };
}
