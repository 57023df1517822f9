import { Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import { isCofferError } from '../../core/errors.ts';
import { encodePageToken } from '../../core/pagination.ts';
import { dayMs } from '../../kms/kms-fns.ts';
import type { Permission } from '../../iam/permissions.ts';
import type { CryptoKey } from '../../kms/kms-types.ts';
import { AwsError } from '../aws-errors.ts';
import { type AwsCall, type AwsOperation, awsOperation } from '../aws-operation.ts';
import { managedKey } from './key-access.ts';
import { epochSeconds, KeyIdField, keyArn, Paging } from './kms-shapes.ts';

/** Automatic rotation and on-demand rotation are for symmetric encryption keys only (as AWS). */
function requireSymmetric(call: AwsCall, key: CryptoKey): void {
  if (key.purpose !== 'encrypt_decrypt')
    throw new AwsError(
      'UnsupportedOperationException',
      `${keyArn(call, key.id)} is not a symmetric encryption key: it does not rotate.`,
    );
}

/** The key whose rotation an operation changes: customer managed, enabled and symmetric. */
async function rotatableKey(
  call: AwsCall,
  app: App,
  keyId: string,
  permission: Permission,
): Promise<CryptoKey> {
  const key = await managedKey(call, app, keyId, permission, { change: true, enabled: true });
  requireSymmetric(call, key);
  return key;
}

const daySeconds = dayMs / 1000;

/** Automatic rotation settings, on-demand rotation and the list of rotations (the key's versions after the first). */
export function rotationOperations(app: App): Record<string, AwsOperation> {
  return {
    EnableKeyRotation: awsOperation({
      input: Type.Object({
        KeyId: KeyIdField,
        RotationPeriodInDays: Type.Optional(Type.Integer({ minimum: 90, maximum: 2560 })),
      }),
      changesState: true,
      handler: async (call, input) => {
        const key = await rotatableKey(call, app, input.KeyId, 'kms.keys.update');
        await app.kmsKeyExtras.setRotation(key, (input.RotationPeriodInDays ?? 365) * daySeconds);
        return {};
      },
    }),
    DisableKeyRotation: awsOperation({
      input: Type.Object({ KeyId: KeyIdField }),
      changesState: true,
      handler: async (call, input) => {
        const key = await rotatableKey(call, app, input.KeyId, 'kms.keys.update');
        await app.kmsKeyExtras.setRotation(key, null);
        return {};
      },
    }),
    GetKeyRotationStatus: awsOperation({
      input: Type.Object({ KeyId: KeyIdField }),
      changesState: false,
      handler: async (call, input) => {
        const key = await managedKey(call, app, input.KeyId, 'kms.keys.get');
        if (key.state === 'pending_deletion')
          throw new AwsError('KMSInvalidStateException', `${keyArn(call, key.id)} is pending deletion.`);
        // Keys that cannot rotate automatically (asymmetric, HMAC) answer false, as AWS's do.
        const period = key.purpose === 'encrypt_decrypt' ? key.rotationPeriodSeconds : null;
        return {
          KeyId: keyArn(call, key.id),
          KeyRotationEnabled: period !== null,
          ...(period !== null ? { RotationPeriodInDays: Math.round(period / daySeconds) } : {}),
          ...(period !== null && key.nextRotationTimeMs !== null
            ? { NextRotationDate: epochSeconds(key.nextRotationTimeMs) }
            : {}),
        };
      },
    }),
    RotateKeyOnDemand: awsOperation({
      input: Type.Object({ KeyId: KeyIdField }),
      changesState: true,
      handler: async (call, input) => {
        const key = await rotatableKey(call, app, input.KeyId, 'kms.keys.rotate');
        const rotated = await app.kms.rotate(key, key.keyRingId, key.id);
        call.auditDetails.keyVersion = rotated.primaryVersion;
        return { KeyId: key.id };
      },
    }),
    ListKeyRotations: awsOperation({
      input: Type.Object({ KeyId: KeyIdField, ...Paging }),
      changesState: false,
      handler: async (call, input) => {
        const key = await managedKey(call, app, input.KeyId, 'kms.key_versions.list');
        requireSymmetric(call, key);
        const limit = input.Limit ?? 100;
        let token = input.Marker ?? encodePageToken('1');
        if (!/^[A-Za-z0-9_-]+$/.test(token))
          throw new AwsError('InvalidMarkerException', 'The marker is invalid.');
        const page = await app.kms
          .listVersions(key, key.keyRingId, key.id, limit, token)
          .catch((err: unknown) => {
            if (isCofferError(err, 'invalid_argument'))
              throw new AwsError('InvalidMarkerException', 'The marker is invalid.');
            throw err;
          });
        token = page.nextPageToken ?? '';
        const paging = token ? { NextMarker: token, Truncated: true } : { Truncated: false };
        const items = page.items;
        // Coffer does not record what made a version. Every rotation (automatic or on demand) sets the
        // next automatic one a period later, so an automatic rotation comes at least a period after the
        // version before it: with automatic rotation on, such a version is AUTOMATIC, any other one
        // (sooner) ON_DEMAND; with it off, all are ON_DEMAND (docs/aws.md).
        const periodMs = key.rotationPeriodSeconds === null ? null : key.rotationPeriodSeconds * 1000;
        let previousMs =
          periodMs === null || items.length === 0
            ? undefined
            : (await app.kms.getVersion(key, key.keyRingId, key.id, items[0]!.version - 1)).version
                .createTimeMs;
        return {
          Rotations: items.map((v) => {
            const automatic =
              periodMs !== null && previousMs !== undefined && v.createTimeMs - previousMs >= periodMs;
            previousMs = v.createTimeMs;
            return {
              KeyId: key.id,
              RotationDate: epochSeconds(v.createTimeMs),
              RotationType: automatic ? 'AUTOMATIC' : 'ON_DEMAND',
            };
          }),
          ...paging,
        };
      },
    }),
  };
}
