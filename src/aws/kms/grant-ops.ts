import { randomBytes } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import type { Permission } from '../../iam/permissions.ts';
import { type Principal, parsePrincipal } from '../../iam/principal.ts';
import { type GrantOperation, grantOperations, type KmsGrant } from '../../kms/kms-extras-types.ts';
import { type CryptoKey, keyResourceName } from '../../kms/kms-types.ts';
import { AwsError } from '../aws-errors.ts';
import { type AwsCall, type AwsOperation, awsOperation } from '../aws-operation.ts';
import { findKmsKey, keyNotFound, locationOf, placeholderKeyName } from './key-ids.ts';
import { authorizeByGrant, managedKey, requireCustomerManaged } from './key-access.ts';
import { dryRun } from './crypto-ops.ts';
import {
  epochSeconds,
  EncryptionContextField,
  GrantTokensField,
  KeyIdField,
  keyArn,
  pageOf,
  pagingUpTo,
  afterMarker,
} from './kms-shapes.ts';

/** The native permission each grant operation stands for: a creator grants only what it holds. */
export const grantOperationPermission: Record<GrantOperation, Permission> = {
  Decrypt: 'kms.decrypt',
  Encrypt: 'kms.encrypt',
  GenerateDataKey: 'kms.generate_data_key',
  GenerateDataKeyWithoutPlaintext: 'kms.generate_data_key',
  ReEncryptFrom: 'kms.rewrap',
  ReEncryptTo: 'kms.rewrap',
  Sign: 'kms.sign',
  Verify: 'kms.verify',
  GetPublicKey: 'kms.key_versions.get_public_key',
  CreateGrant: 'kms.grants.create',
  RetireGrant: 'kms.grants.revoke',
  DescribeKey: 'kms.keys.get',
  GenerateDataKeyPair: 'kms.generate_data_key',
  GenerateDataKeyPairWithoutPlaintext: 'kms.generate_data_key',
  GenerateMac: 'kms.mac',
  VerifyMac: 'kms.verify_mac',
};

/** Operations that take no encryption context: a grant with constraints cannot allow them (as AWS). */
const noContext = new Set<GrantOperation>([
  'Sign',
  'Verify',
  'GetPublicKey',
  'GenerateMac',
  'VerifyMac',
  'DescribeKey',
]);

const everyKey: GrantOperation[] = ['DescribeKey', 'CreateGrant', 'RetireGrant'];
/** The grant operations each key usage supports: a grant for any other is ValidationException (as AWS). */
const operationsOfPurpose: Record<CryptoKey['purpose'], ReadonlySet<GrantOperation>> = {
  encrypt_decrypt: new Set([
    ...everyKey,
    'Encrypt',
    'Decrypt',
    'ReEncryptFrom',
    'ReEncryptTo',
    'GenerateDataKey',
    'GenerateDataKeyWithoutPlaintext',
    'GenerateDataKeyPair',
    'GenerateDataKeyPairWithoutPlaintext',
  ]),
  decrypt: new Set([...everyKey, 'Encrypt', 'Decrypt', 'ReEncryptFrom', 'ReEncryptTo', 'GetPublicKey']),
  sign_verify: new Set([...everyKey, 'Sign', 'Verify', 'GetPublicKey']),
  mac: new Set([...everyKey, 'GenerateMac', 'VerifyMac']),
};

const principalArn = /^arn:aws:iam::(\d{12}):(user|role)\/(?:[\w+=,.@/-]*\/)?([^/]+)$/;
/** AWS's PrincipalIdType (GranteePrincipal, RetiringPrincipal). */
const principalIdPattern = /^[\w+=,.@:/-]{1,256}$/;

/**
 * The Coffer principal a grantee or retiring principal names: `arn:aws:iam::{account}:user/{email}` is
 * the user `{email}`, `arn:aws:iam::{account}:role/{email}` the service account `{email}`, and a Coffer
 * member (`user:…`, `serviceAccount:…`) is itself (docs/aws.md). Any other principal AWS accepts (an
 * account root, a role or user that is no Coffer principal, an assumed role) is kept as `aws:{value}`,
 * which no caller ever is: such a grant is listed, retired and revoked like any other and allows
 * nothing. A value outside AWS's PrincipalIdType is ValidationException.
 */
export function principalOfArn(value: string, field: string): Principal {
  const direct = parsePrincipal(value);
  if (direct) return direct;
  const match = principalArn.exec(value);
  const member = match && parsePrincipal(`${match[2] === 'user' ? 'user' : 'serviceAccount'}:${match[3]}`);
  if (member) return member;
  if (!principalIdPattern.test(value))
    throw new AwsError(
      'ValidationException',
      `1 validation error detected: Value at '${field.charAt(0).toLowerCase()}${field.slice(1)}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$`,
    );
  return `aws:${value}` as Principal;
}

const Constraints = Type.Object({
  EncryptionContextSubset: Type.Optional(EncryptionContextField),
  EncryptionContextEquals: Type.Optional(EncryptionContextField),
});
const GrantOperationField = Type.Union(grantOperations.map((op) => Type.Literal(op)));
const GrantName = Type.String({ minLength: 1, maxLength: 256, pattern: '^[a-zA-Z0-9:/_-]+$' });
const GrantId = Type.String({ minLength: 1, maxLength: 128 });

const CreateGrantInput = Type.Object({
  KeyId: KeyIdField,
  GranteePrincipal: Type.String({ minLength: 1, maxLength: 256 }),
  RetiringPrincipal: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  Operations: Type.Array(GrantOperationField, { minItems: 1 }),
  Constraints: Type.Optional(Constraints),
  GrantTokens: Type.Optional(GrantTokensField),
  Name: Type.Optional(GrantName),
  DryRun: Type.Optional(Type.Boolean()),
});

/** A grant token names its grant (plus randomness); grants take effect at once, so it carries no authority. */
function grantToken(grant: KmsGrant): string {
  return Buffer.concat([Buffer.from(grant.id, 'hex'), randomBytes(16)]).toString('base64url');
}

function grantIdOfToken(token: string): string {
  const bytes = /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, 'base64url') : Buffer.alloc(0);
  if (bytes.length !== 48) throw new AwsError('InvalidGrantTokenException', 'The grant token is not valid.');
  return bytes.subarray(0, 32).toString('hex');
}

function grantEntry(call: AwsCall, key: CryptoKey, grant: KmsGrant) {
  const c = grant.constraints;
  return {
    KeyId: keyArn(call, key.id),
    GrantId: grant.id,
    ...(grant.name !== null ? { Name: grant.name } : {}),
    CreationDate: epochSeconds(grant.createTimeMs),
    GranteePrincipal: grant.granteePrincipal,
    ...(grant.retiringPrincipal !== null ? { RetiringPrincipal: grant.retiringPrincipal } : {}),
    IssuingAccount: `arn:aws:iam::${call.accountId}:root`,
    Operations: grant.operations,
    ...(c
      ? {
          Constraints: {
            ...(c.encryptionContextSubset ? { EncryptionContextSubset: c.encryptionContextSubset } : {}),
            ...(c.encryptionContextEquals ? { EncryptionContextEquals: c.encryptionContextEquals } : {}),
          },
        }
      : {}),
  };
}

/**
 * Authorizes a CreateGrant: IAM's kms.grants.create on the key AND every granted operation's native
 * permission on the key (a grant never gives more than its creator holds), or a grant of the caller
 * with CreateGrant whose operations cover the new ones and whose constraints the new grant keeps.
 */
async function authorizeGrantCreation(
  call: AwsCall,
  app: App,
  key: CryptoKey,
  input: Static<typeof CreateGrantInput>,
) {
  const name = keyResourceName(key);
  const holds = (permission: Permission) => app.authorizer.holds(call.principal, permission, name);
  if (await holds('kms.grants.create')) {
    await call.authorize('kms.grants.create', name);
    for (const op of new Set(input.Operations)) {
      if (!(await holds(grantOperationPermission[op])))
        throw new AwsError(
          'AccessDeniedException',
          `${call.principal} cannot grant ${op}: it does not hold ${grantOperationPermission[op]} on the key.`,
        );
    }
    // A grant never expires: what it passes on must be held without an expiry, or a time-bound
    // binding would outlive itself through a grant its holder makes (to itself or to another).
    const passed = [
      'kms.grants.create' as const,
      ...new Set(input.Operations.map((op) => grantOperationPermission[op])),
    ];
    if ((await app.authorizer.heldUntil(call.principal, passed, name)) !== Number.POSITIVE_INFINITY)
      throw new AwsError(
        'AccessDeniedException',
        `A grant never expires: ${call.principal} holds ${passed.join(', ')} on the key only through bindings with an expiry.`,
      );
    return;
  }
  const wanted = JSON.stringify(input.Constraints ?? null);
  const parents = await app.kmsGrants.list(key, { grantee: call.principal }, undefined, 1000);
  const parent = parents.find(
    (g) =>
      g.operations.includes('CreateGrant') &&
      input.Operations.every((op) => g.operations.includes(op)) &&
      (g.constraints === null ||
        wanted ===
          JSON.stringify({
            ...(g.constraints.encryptionContextSubset
              ? { EncryptionContextSubset: g.constraints.encryptionContextSubset }
              : {}),
            ...(g.constraints.encryptionContextEquals
              ? { EncryptionContextEquals: g.constraints.encryptionContextEquals }
              : {}),
          })),
  );
  if (!parent) return call.authorize('kms.grants.create', name);
  await authorizeByGrant(call, 'kms.grants.create', name, parent.id);
}

/** The grant RetireGrant names, and whether the caller may retire it (retiring principal, grantee with RetireGrant, or kms.grants.revoke). */
async function retirable(
  call: AwsCall,
  app: App,
  input: { GrantToken?: string; KeyId?: string; GrantId?: string },
) {
  if (input.GrantToken === undefined && (input.KeyId === undefined || input.GrantId === undefined))
    throw new AwsError('ValidationException', 'Give GrantToken, or KeyId and GrantId.');
  const grantId = input.GrantToken !== undefined ? grantIdOfToken(input.GrantToken) : input.GrantId!;
  let key: CryptoKey | undefined;
  if (input.KeyId !== undefined) {
    key = await findKmsKey(call, app, input.KeyId, { keyOnly: true });
    if (!key) {
      await call.authorize('kms.grants.revoke', placeholderKeyName(call, input.KeyId));
      throw keyNotFound(call, input.KeyId);
    }
  }
  let grant = await app.kmsGrants.find(locationOf(call), grantId);
  if (grant && key && grant.keyUid !== key.uid) grant = undefined;
  key ??= grant && (await app.kms.findKeyByUid(grant.keyUid));
  const name = key ? keyResourceName(key) : placeholderKeyName(call, grantId);
  const mayRetire =
    grant !== undefined &&
    (grant.retiring === call.principal ||
      (grant.grantee === call.principal && grant.operations.includes('RetireGrant')));
  if (mayRetire && !(await app.authorizer.holds(call.principal, 'kms.grants.revoke', name)))
    await authorizeByGrant(call, 'kms.grants.revoke', name, grant!.id);
  else await call.authorize('kms.grants.revoke', name);
  if (!grant || !key) throw new AwsError('NotFoundException', `Grant ${grantId} does not exist.`);
  return { grant, key };
}

/** CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant. Grants are enforced on this face. */
export function grantOperationsOf(app: App): Record<string, AwsOperation> {
  return {
    CreateGrant: awsOperation({
      input: CreateGrantInput,
      changesState: true,
      handler: async (call, input) => {
        const key = await findKmsKey(call, app, input.KeyId, { keyOnly: true });
        if (!key) {
          await call.authorize('kms.grants.create', placeholderKeyName(call, input.KeyId));
          throw keyNotFound(call, input.KeyId);
        }
        await authorizeGrantCreation(call, app, key, input);
        await app.projects.requireFeature(call.projectId, 'kms');
        await requireCustomerManaged(call, app, key);
        if (key.state === 'pending_deletion')
          throw new AwsError('KMSInvalidStateException', `${keyArn(call, key.id)} is pending deletion.`);
        const grantee = principalOfArn(input.GranteePrincipal, 'GranteePrincipal');
        const retiring =
          input.RetiringPrincipal === undefined
            ? undefined
            : principalOfArn(input.RetiringPrincipal, 'RetiringPrincipal');
        const c = input.Constraints;
        const constrained =
          c !== undefined &&
          (c.EncryptionContextSubset !== undefined || c.EncryptionContextEquals !== undefined);
        const unsupported = input.Operations.filter((op) => !operationsOfPurpose[key.purpose].has(op));
        if (unsupported.length > 0)
          throw new AwsError(
            'ValidationException',
            `${keyArn(call, key.id)} does not support the grant operations ${unsupported.join(', ')}.`,
          );
        if (
          constrained &&
          (key.purpose !== 'encrypt_decrypt' || input.Operations.some((op) => noContext.has(op)))
        )
          throw new AwsError(
            'ValidationException',
            'Grant constraints apply to operations that take an encryption context only.',
          );
        dryRun(input);
        const grant = await app.kmsGrants.create(
          key,
          {
            ...(input.Name !== undefined ? { name: input.Name } : {}),
            granteePrincipal: input.GranteePrincipal,
            grantee,
            ...(retiring ? { retiringPrincipal: input.RetiringPrincipal!, retiring } : {}),
            operations: input.Operations,
            ...(constrained
              ? {
                  constraints: {
                    ...(c.EncryptionContextSubset
                      ? { encryptionContextSubset: c.EncryptionContextSubset }
                      : {}),
                    ...(c.EncryptionContextEquals
                      ? { encryptionContextEquals: c.EncryptionContextEquals }
                      : {}),
                  },
                }
              : {}),
          },
          call.principal,
        );
        call.auditDetails.grantId = grant.id;
        return { GrantToken: grantToken(grant), GrantId: grant.id };
      },
    }),
    ListGrants: awsOperation({
      input: Type.Object({
        KeyId: KeyIdField,
        GrantId: Type.Optional(GrantId),
        GranteePrincipal: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
        ...pagingUpTo(100),
      }),
      changesState: false,
      handler: async (call, input) => {
        const key = await managedKey(call, app, input.KeyId, 'kms.grants.list');
        const grantee =
          input.GranteePrincipal === undefined
            ? undefined
            : principalOfArn(input.GranteePrincipal, 'GranteePrincipal');
        const limit = input.Limit ?? 50;
        const rows = await app.kmsGrants.list(
          key,
          {
            ...(input.GrantId !== undefined ? { grantId: input.GrantId } : {}),
            ...(grantee ? { grantee } : {}),
          },
          afterMarker(input.Marker),
          limit + 1,
        );
        const { items, paging } = pageOf(rows, limit, (g) => g.id);
        return { Grants: items.map((g) => grantEntry(call, key, g)), ...paging };
      },
    }),
    ListRetirableGrants: awsOperation({
      input: Type.Object({
        RetiringPrincipal: Type.String({ minLength: 1, maxLength: 256 }),
        ...pagingUpTo(100),
      }),
      changesState: false,
      handler: async (call, input) => {
        await call.authorize('kms.grants.list', `projects/${call.projectId}/regions/${call.regionId}`);
        await app.projects.requireFeature(call.projectId, 'kms');
        const retiring = principalOfArn(input.RetiringPrincipal, 'RetiringPrincipal');
        const limit = input.Limit ?? 50;
        const rows = await app.kmsGrants.listRetirable(
          locationOf(call),
          retiring,
          afterMarker(input.Marker),
          limit + 1,
        );
        const { items, paging } = pageOf(rows, limit, (g) => g.id);
        const keys = await Promise.all(items.map((g) => app.kms.findKeyByUid(g.keyUid)));
        return {
          Grants: items.flatMap((g, i) => (keys[i] ? [grantEntry(call, keys[i], g)] : [])),
          ...paging,
        };
      },
    }),
    RetireGrant: awsOperation({
      input: Type.Object({
        GrantToken: Type.Optional(Type.String({ minLength: 1, maxLength: 8192 })),
        KeyId: Type.Optional(KeyIdField),
        GrantId: Type.Optional(GrantId),
        DryRun: Type.Optional(Type.Boolean()),
      }),
      changesState: true,
      handler: async (call, input) => {
        const { grant, key } = await retirable(call, app, input);
        dryRun(input);
        call.auditDetails.grantId = grant.id;
        await app.kmsGrants.delete(key, grant);
        return {};
      },
    }),
    RevokeGrant: awsOperation({
      input: Type.Object({ KeyId: KeyIdField, GrantId, DryRun: Type.Optional(Type.Boolean()) }),
      changesState: true,
      handler: async (call, input) => {
        const key = await managedKey(call, app, input.KeyId, 'kms.grants.revoke');
        const grant = await app.kmsGrants.find(locationOf(call), input.GrantId);
        if (!grant || grant.keyUid !== key.uid)
          throw new AwsError('NotFoundException', `Grant ${input.GrantId} does not exist.`);
        dryRun(input);
        call.auditDetails.grantId = grant.id;
        await app.kmsGrants.delete(key, grant);
        return {};
      },
    }),
  };
}
