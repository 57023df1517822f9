import { Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import { aliasNamePattern, managedAliasPrefix } from '../../kms/kms-alias-service.ts';
import type { KmsAlias } from '../../kms/kms-extras-types.ts';
import { keyResourceName } from '../../kms/kms-types.ts';
import { AwsError } from '../aws-errors.ts';
import { type AwsCall, type AwsOperation, awsOperation } from '../aws-operation.ts';
import { locationOf, parseKeyId, placeholderKeyName } from './key-ids.ts';
import { managedKey, requireCustomerManaged } from './key-access.ts';
import { afterMarker, aliasArn, epochSeconds, KeyIdField, pageOf, pagingUpTo } from './kms-shapes.ts';

const AliasName = Type.String({ minLength: 1, maxLength: 256, pattern: '^[a-zA-Z0-9:/_-]+$' });

/**
 * AWS's rules on a user's alias name, with AWS's errors: `alias/…` (ValidationException), never
 * `alias/aws/…` (NotAuthorizedException), no `:` (ValidationException, although the member's pattern
 * allows it), then at least one of `[a-zA-Z0-9/_-]` (InvalidAliasNameException).
 */
function checkAliasName(name: string): void {
  if (!name.startsWith('alias/'))
    throw new AwsError(
      'ValidationException',
      'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
    );
  if (name.startsWith(managedAliasPrefix))
    throw new AwsError(
      'NotAuthorizedException',
      `Alias names beginning with ${managedAliasPrefix} are reserved for AWS managed keys.`,
    );
  if (name.includes(':'))
    throw new AwsError('ValidationException', `${name} contains invalid characters for an alias`);
  if (!aliasNamePattern.test(name))
    throw new AwsError(
      'InvalidAliasNameException',
      `Alias ${name} must begin with alias/ and contain only [a-zA-Z0-9/_-].`,
    );
}

/**
 * The key an alias is to point at: a key id or key ARN only (an alias there is ValidationException, as
 * AWS answers), authorized for kms.keys.update.
 */
function targetKey(call: AwsCall, app: App, targetKeyId: string) {
  const target = parseKeyId(call, targetKeyId);
  if (target && 'alias' in target)
    throw new AwsError('ValidationException', 'Aliases must refer to keys. Not aliases');
  return managedKey(call, app, targetKeyId, 'kms.keys.update');
}

async function aliasNamed(call: AwsCall, app: App, name: string): Promise<KmsAlias> {
  const alias = await app.kmsAliases.find(locationOf(call), name);
  if (!alias) throw new AwsError('NotFoundException', `Alias ${aliasArn(call, name)} is not found.`);
  return alias;
}

/** CreateAlias, UpdateAlias, DeleteAlias and ListAliases. An alias change needs kms.keys.update on its keys. */
export function aliasOperations(app: App): Record<string, AwsOperation> {
  return {
    CreateAlias: awsOperation({
      input: Type.Object({ AliasName, TargetKeyId: KeyIdField }),
      changesState: true,
      handler: async (call, input) => {
        const key = await targetKey(call, app, input.TargetKeyId);
        checkAliasName(input.AliasName);
        await requireCustomerManaged(call, app, key);
        if (key.state === 'pending_deletion')
          throw new AwsError('KMSInvalidStateException', `${key.id} is pending deletion.`);
        try {
          await app.kmsAliases.create(input.AliasName, key);
        } catch (err) {
          if (err instanceof Error && 'code' in err && err.code === 'already_exists')
            throw new AwsError(
              'AlreadyExistsException',
              `An alias with the name ${aliasArn(call, input.AliasName)} already exists`,
            );
          throw err;
        }
        return {};
      },
    }),
    UpdateAlias: awsOperation({
      input: Type.Object({ AliasName, TargetKeyId: KeyIdField }),
      changesState: true,
      handler: async (call, input) => {
        const key = await targetKey(call, app, input.TargetKeyId);
        checkAliasName(input.AliasName);
        const alias = await aliasNamed(call, app, input.AliasName);
        const current = await app.kms.findKeyByUid(alias.keyUid);
        if (current)
          await call.authorize('kms.keys.update', keyResourceName(current), {
            shownAs: placeholderKeyName(call, input.AliasName),
          });
        await requireCustomerManaged(call, app, key);
        if (current && current.purpose !== key.purpose)
          throw new AwsError(
            'ValidationException',
            'The new key must have the same key usage as the key the alias names now.',
          );
        if (key.state === 'pending_deletion')
          throw new AwsError('KMSInvalidStateException', `${key.id} is pending deletion.`);
        await app.kmsAliases.retarget(alias, key);
        return {};
      },
    }),
    DeleteAlias: awsOperation({
      input: Type.Object({ AliasName }),
      changesState: true,
      handler: async (call, input) => {
        const alias = await app.kmsAliases.find(locationOf(call), input.AliasName);
        const key = alias && (await app.kms.findKeyByUid(alias.keyUid));
        const shownAs = placeholderKeyName(call, input.AliasName);
        await call.authorize('kms.keys.update', key ? keyResourceName(key) : shownAs, { shownAs });
        await app.projects.requireFeature(call.projectId, 'kms');
        checkAliasName(input.AliasName);
        if (!alias)
          throw new AwsError('NotFoundException', `Alias ${aliasArn(call, input.AliasName)} is not found.`);
        await app.kmsAliases.delete(alias, key);
        return {};
      },
    }),
    ListAliases: awsOperation({
      input: Type.Object({ KeyId: Type.Optional(KeyIdField), ...pagingUpTo(100) }),
      changesState: false,
      handler: async (call, input) => {
        let keyUid: string | undefined;
        if (input.KeyId !== undefined) {
          keyUid = (await managedKey(call, app, input.KeyId, 'kms.keys.get')).uid;
        } else {
          await call.authorize('kms.keys.list', `projects/${call.projectId}/regions/${call.regionId}`);
          await app.projects.requireFeature(call.projectId, 'kms');
        }
        const limit = input.Limit ?? 50;
        const rows = await app.kmsAliases.list(
          locationOf(call),
          keyUid,
          afterMarker(input.Marker),
          limit + 1,
        );
        const { items, paging } = pageOf(rows, limit, (a) => a.name);
        const keys = new Map(
          await Promise.all(
            items.map(async (a) => [a.keyUid, await app.kms.findKeyByUid(a.keyUid)] as const),
          ),
        );
        return {
          Aliases: items.map((a) => {
            const key = keys.get(a.keyUid);
            return {
              AliasName: a.name,
              AliasArn: aliasArn(call, a.name),
              ...(key ? { TargetKeyId: key.id } : {}),
              CreationDate: epochSeconds(a.createTimeMs),
              LastUpdatedDate: epochSeconds(a.updateTimeMs),
            };
          }),
          ...paging,
        };
      },
    }),
  };
}
