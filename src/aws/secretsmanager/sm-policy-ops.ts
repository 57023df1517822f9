import { Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import { checkResourcePolicy, grantsPublicAccess } from '../../secrets/resource-policy-fns.ts';
import { AwsError } from '../aws-errors.ts';
import { type AwsOperation, awsOperation } from '../aws-operation.ts';
import { awsResourceName, findAwsInstance, resolveSecret, secretArnOf } from './sm-scope.ts';
import { SecretIdField, TagShape, str, tagsOf } from './sm-wire.ts';

/** Checks a policy document as PutResourcePolicy does (MalformedPolicyDocumentException, PublicPolicyException). */
function checkPolicy(policy: string, blockPublic: boolean): void {
  const findings = checkResourcePolicy(policy);
  if (findings.length > 0) throw new AwsError('MalformedPolicyDocumentException', findings[0]!.message);
  if (blockPublic && grantsPublicAccess(policy))
    throw new AwsError(
      'PublicPolicyException',
      'The BlockPublicPolicy parameter is set to true, and the resource policy grants access to everyone ("*") without a condition.',
    );
}

/**
 * Tags and resource policies: TagResource and UntagResource (`secrets.secrets.update`, as a native
 * metadata change), Get/Put/DeleteResourcePolicy (`iam.policies.get` / `iam.policies.set`, as the
 * native IAM policy of the secret) and ValidateResourcePolicy. A resource policy is stored and
 * validated, never evaluated: Coffer IAM alone decides access (docs/aws.md).
 */
export function policyOperations(app: App): Record<string, AwsOperation> {
  return {
    TagResource: awsOperation({
      input: Type.Object({ SecretId: SecretIdField, Tags: Type.Array(TagShape, { maxItems: 50 }) }),
      changesState: true,
      handler: async (call, input) => {
        const { secret } = await resolveSecret(call, app, input.SecretId, 'secrets.secrets.update');
        await app.secretAttributes.change(secret, secret.instanceId, secret.path, {
          addTags: tagsOf(input.Tags),
        });
        return {};
      },
    }),

    UntagResource: awsOperation({
      input: Type.Object({ SecretId: SecretIdField, TagKeys: Type.Array(str(1, 128), { maxItems: 50 }) }),
      changesState: true,
      handler: async (call, input) => {
        const { secret } = await resolveSecret(call, app, input.SecretId, 'secrets.secrets.update');
        await app.secretAttributes.change(secret, secret.instanceId, secret.path, {
          removeTagKeys: input.TagKeys,
        });
        return {};
      },
    }),

    GetResourcePolicy: awsOperation({
      input: Type.Object({ SecretId: SecretIdField }),
      changesState: false,
      handler: async (call, input) => {
        const { secret } = await resolveSecret(call, app, input.SecretId, 'iam.policies.get');
        return {
          ARN: secretArnOf(call, secret),
          Name: secret.path,
          ...(secret.resourcePolicy ? { ResourcePolicy: secret.resourcePolicy } : {}),
        };
      },
    }),

    PutResourcePolicy: awsOperation({
      input: Type.Object({
        SecretId: SecretIdField,
        ResourcePolicy: str(1, 20_480),
        BlockPublicPolicy: Type.Optional(Type.Boolean()),
      }),
      changesState: true,
      handler: async (call, input) => {
        const { secret } = await resolveSecret(call, app, input.SecretId, 'iam.policies.set');
        checkPolicy(input.ResourcePolicy, input.BlockPublicPolicy !== false);
        await app.secretAttributes.change(secret, secret.instanceId, secret.path, {
          resourcePolicy: input.ResourcePolicy,
        });
        return { ARN: secretArnOf(call, secret), Name: secret.path };
      },
    }),

    DeleteResourcePolicy: awsOperation({
      input: Type.Object({ SecretId: SecretIdField }),
      changesState: true,
      handler: async (call, input) => {
        const { secret } = await resolveSecret(call, app, input.SecretId, 'iam.policies.set');
        await app.secretAttributes.change(secret, secret.instanceId, secret.path, { resourcePolicy: null });
        return { ARN: secretArnOf(call, secret), Name: secret.path };
      },
    }),

    ValidateResourcePolicy: awsOperation({
      input: Type.Object({ SecretId: Type.Optional(SecretIdField), ResourcePolicy: str(1, 20_480) }),
      changesState: false,
      handler: async (call, input) => {
        if (input.SecretId !== undefined) await resolveSecret(call, app, input.SecretId, 'iam.policies.get');
        else
          await call.authorize('iam.policies.get', awsResourceName(call, await findAwsInstance(call, app)));
        const findings = checkResourcePolicy(input.ResourcePolicy);
        // A document that is no policy is refused (as AWS, and moto, answer it); ValidationErrors
        // report what a well-formed policy allows too broadly.
        if (findings.length > 0)
          throw new AwsError('MalformedPolicyDocumentException', 'The resource policy has syntax errors.');
        if (grantsPublicAccess(input.ResourcePolicy))
          findings.push({
            check: 'BROAD_ACCESS_CHECK',
            message: 'The policy grants access to everyone ("*") without a condition.',
          });
        return {
          PolicyValidationPassed: findings.length === 0,
          ValidationErrors: findings.map((f) => ({ CheckName: f.check, ErrorMessage: f.message })),
        };
      },
    }),
  };
}
