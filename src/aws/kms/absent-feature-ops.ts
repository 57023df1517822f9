import { Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import { AwsError } from '../aws-errors.ts';
import { type AwsCall, type AwsOperation, awsOperation } from '../aws-operation.ts';
import { authorizedKey, managedKey, requireUsage } from './key-access.ts';
import { KeyIdField, keyArn, Paging } from './kms-shapes.ts';

const unsupported = (message: string) => new AwsError('UnsupportedOperationException', message);
const noStore = (id: string) =>
  new AwsError('CustomKeyStoreNotFoundException', `Custom key store ${id} does not exist: Coffer has none.`);
const StoreId = Type.String({ minLength: 1, maxLength: 64 });

/** The key an operation names, authorized for reading (kms.keys.get) before anything is said about it. */
const keyOf = (call: AwsCall, app: App, keyId: string) => managedKey(call, app, keyId, 'kms.keys.get');

/** Authorizes a request about the region's key stores (there are none). */
async function authorizeRegion(call: AwsCall, app: App): Promise<void> {
  await call.authorize('kms.keys.list', `projects/${call.projectId}/regions/${call.regionId}`);
  await app.projects.requireFeature(call.projectId, 'kms');
}

/** An operation on a key that AWS answers UnsupportedOperationException for a key like Coffer's. */
function onKey(app: App, why: string) {
  return awsOperation({
    input: Type.Object({ KeyId: KeyIdField }),
    changesState: false,
    handler: async (call, input) => {
      const key = await keyOf(call, app, input.KeyId);
      throw unsupported(`${keyArn(call, key.id)} ${why}`);
    },
  });
}

/** An operation on a named custom key store: Coffer has none (CustomKeyStoreNotFoundException). */
function onStore(app: App) {
  return awsOperation({
    input: Type.Object({ CustomKeyStoreId: StoreId }),
    changesState: false,
    handler: async (call, input) => {
      await authorizeRegion(call, app);
      throw noStore(input.CustomKeyStoreId);
    },
  });
}

/**
 * AWS KMS operations of features Coffer does not have (docs/aws.md): imported key material,
 * multi-Region keys, key agreement and custom key stores. Each answers what AWS answers for keys and
 * accounts like Coffer's (every key has origin AWS_KMS, is single-Region, has no KEY_AGREEMENT usage;
 * the account has no custom key store) instead of UnknownOperationException, after the same
 * authorization and key lookup as any operation on a key.
 */
export function absentFeatureOperations(app: App): Record<string, AwsOperation> {
  const imported = 'origin is AWS_KMS which is not valid for this operation.';
  return {
    GetParametersForImport: onKey(app, imported),
    ImportKeyMaterial: onKey(app, imported),
    DeleteImportedKeyMaterial: onKey(app, imported),
    ReplicateKey: onKey(app, 'is not a multi-Region key: Coffer has no multi-Region keys.'),
    UpdatePrimaryRegion: onKey(app, 'is not a multi-Region key: Coffer has no multi-Region keys.'),
    DeriveSharedSecret: awsOperation({
      input: Type.Object({ KeyId: KeyIdField }),
      changesState: false,
      handler: async (call, input) => {
        const key = await authorizedKey(call, app, input.KeyId, { permission: 'kms.keys.get' });
        requireUsage(call, key, [], 'DeriveSharedSecret');
        throw unsupported('Coffer has no key agreement keys.');
      },
    }),
    DescribeCustomKeyStores: awsOperation({
      input: Type.Object({
        CustomKeyStoreId: Type.Optional(StoreId),
        CustomKeyStoreName: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
        ...Paging,
      }),
      changesState: false,
      handler: async (call, input) => {
        await authorizeRegion(call, app);
        const named = input.CustomKeyStoreId ?? input.CustomKeyStoreName;
        if (named !== undefined) throw noStore(named);
        return { CustomKeyStores: [], Truncated: false };
      },
    }),
    CreateCustomKeyStore: awsOperation({
      input: Type.Object({ CustomKeyStoreName: Type.String({ minLength: 1, maxLength: 256 }) }),
      changesState: false,
      handler: async (call) => {
        await authorizeRegion(call, app);
        throw unsupported('Coffer has no custom key stores (CloudHSM or external).');
      },
    }),
    ConnectCustomKeyStore: onStore(app),
    DisconnectCustomKeyStore: onStore(app),
    DeleteCustomKeyStore: onStore(app),
    UpdateCustomKeyStore: onStore(app),
  };
}
