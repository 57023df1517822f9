import { Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import type { KeyTag } from '../../kms/kms-extras-types.ts';
import { AwsError } from '../aws-errors.ts';
import { type AwsCall, type AwsOperation, awsOperation } from '../aws-operation.ts';
import { managedKey } from './key-access.ts';
import { afterMarker, KeyIdField, pageOf, Paging, pagingUpTo } from './kms-shapes.ts';

/** AWS's Tags field. */
export const TagList = Type.Array(
  Type.Object({
    TagKey: Type.String({ minLength: 1, maxLength: 128 }),
    TagValue: Type.String({ maxLength: 256 }),
  }),
);

/** Most tags a key may carry (AWS's quota). */
export const maxTags = 50;

/** Tags of a request, checked as AWS does (TagException). */
export function tagsOf(list: readonly { TagKey: string; TagValue: string }[]): KeyTag[] {
  const seen = new Set<string>();
  for (const tag of list) {
    if (tag.TagKey.startsWith('aws:'))
      throw new AwsError('TagException', 'Tag keys beginning with aws: are reserved.');
    if (seen.has(tag.TagKey)) throw new AwsError('TagException', `Duplicate tag key ${tag.TagKey}.`);
    // Not a character AWS allows in tags, and PostgreSQL cannot store it (not a limit exceeded).
    if (tag.TagKey.includes('\u0000') || tag.TagValue.includes('\u0000'))
      throw new AwsError('TagException', 'Tag keys and values cannot contain NUL.');
    seen.add(tag.TagKey);
  }
  if (list.length > maxTags) throw new AwsError('TagException', `A key has at most ${maxTags} tags.`);
  return list.map((tag) => ({ key: tag.TagKey, value: tag.TagValue }));
}

/** Checks a key policy document: JSON with a Statement (MalformedPolicyDocumentException otherwise). */
export function checkPolicy(policy: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(policy);
  } catch {
    throw new AwsError('MalformedPolicyDocumentException', 'The key policy is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !('Statement' in parsed))
    throw new AwsError(
      'MalformedPolicyDocumentException',
      'The key policy must be a JSON object with a Statement.',
    );
  const statements = (parsed as { Statement: unknown }).Statement;
  const list = Array.isArray(statements) ? statements : [statements];
  for (const statement of list) {
    if (typeof statement !== 'object' || statement === null)
      throw new AwsError('MalformedPolicyDocumentException', 'Each policy statement must be an object.');
    const effect = (statement as { Effect?: unknown }).Effect;
    if (effect !== 'Allow' && effect !== 'Deny')
      throw new AwsError(
        'MalformedPolicyDocumentException',
        'Each policy statement needs Effect Allow or Deny.',
      );
  }
}

/** The policy a key has until one is put: the account may do everything (AWS's default key policy). */
export function defaultPolicy(call: AwsCall): string {
  return JSON.stringify(
    {
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [
        {
          Sid: 'Enable IAM User Permissions',
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${call.accountId}:root` },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    },
    null,
    2,
  );
}

const PolicyName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\w]+$' });

function requireDefaultName(name: string | undefined): void {
  if (name !== undefined && name !== 'default')
    throw new AwsError(
      'NotFoundException',
      `Key policy ${name} does not exist: the only policy name is default.`,
    );
}

/** Tags and key policies of a key. Key policies are stored and validated, not enforced (docs/aws.md). */
export function tagPolicyOperations(app: App): Record<string, AwsOperation> {
  return {
    TagResource: awsOperation({
      input: Type.Object({ KeyId: KeyIdField, Tags: TagList }),
      changesState: true,
      handler: async (call, input) => {
        const key = await managedKey(call, app, input.KeyId, 'kms.keys.update', { change: true });
        const tags = tagsOf(input.Tags);
        try {
          await app.kmsKeyExtras.tag(key, tags, maxTags);
        } catch (err) {
          if (err instanceof Error && 'code' in err && err.code === 'invalid_argument')
            throw new AwsError('LimitExceededException', err.message);
          throw err;
        }
        return {};
      },
    }),
    UntagResource: awsOperation({
      input: Type.Object({
        KeyId: KeyIdField,
        TagKeys: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 50 }),
      }),
      changesState: true,
      handler: async (call, input) => {
        const key = await managedKey(call, app, input.KeyId, 'kms.keys.update', { change: true });
        if (input.TagKeys.length > 0) await app.kmsKeyExtras.untag(key, input.TagKeys);
        return {};
      },
    }),
    ListResourceTags: awsOperation({
      input: Type.Object({ KeyId: KeyIdField, ...pagingUpTo(50) }),
      changesState: false,
      handler: async (call, input) => {
        const key = await managedKey(call, app, input.KeyId, 'kms.keys.get');
        const after = afterMarker(input.Marker);
        const limit = input.Limit ?? 50;
        const tags = (await app.kmsKeyExtras.tags(key)).filter((t) => after === undefined || t.key > after);
        const { items, paging } = pageOf(tags, limit, (t) => t.key);
        return { Tags: items.map((t) => ({ TagKey: t.key, TagValue: t.value })), ...paging };
      },
    }),
    GetKeyPolicy: awsOperation({
      input: Type.Object({ KeyId: KeyIdField, PolicyName: Type.Optional(PolicyName) }),
      changesState: false,
      handler: async (call, input) => {
        const key = await managedKey(call, app, input.KeyId, 'kms.keys.get');
        requireDefaultName(input.PolicyName);
        const policy = (await app.kmsKeyExtras.attributes(key)).policy ?? defaultPolicy(call);
        return { Policy: policy, PolicyName: 'default' };
      },
    }),
    PutKeyPolicy: awsOperation({
      input: Type.Object({
        KeyId: KeyIdField,
        PolicyName: Type.Optional(PolicyName),
        Policy: Type.String({ minLength: 1, maxLength: 32768 }),
        BypassPolicyLockoutSafetyCheck: Type.Optional(Type.Boolean()),
      }),
      changesState: true,
      handler: async (call, input) => {
        const key = await managedKey(call, app, input.KeyId, 'kms.keys.update', { change: true });
        requireDefaultName(input.PolicyName);
        checkPolicy(input.Policy);
        await app.kmsKeyExtras.setPolicy(key, input.Policy);
        return {};
      },
    }),
    ListKeyPolicies: awsOperation({
      input: Type.Object({ KeyId: KeyIdField, ...Paging }),
      changesState: false,
      handler: async (call, input) => {
        await managedKey(call, app, input.KeyId, 'kms.keys.get');
        return { PolicyNames: ['default'], Truncated: false };
      },
    }),
  };
}
