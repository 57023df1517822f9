import type { App } from '../../app/app.ts';
import type { AwsOperation } from '../aws-operation.ts';
import { absentFeatureOperations } from './absent-feature-ops.ts';
import { aliasOperations } from './alias-ops.ts';
import { asymmetricOperations } from './asymmetric-ops.ts';
import { cryptoOperations } from './crypto-ops.ts';
import { grantOperationsOf } from './grant-ops.ts';
import { keyOperations } from './key-ops.ts';
import { rotationOperations } from './rotation-ops.ts';
import { tagPolicyOperations } from './tag-policy-ops.ts';

export { ensureAwsManagedKey } from '../../kms/kms-alias-service.ts';
export { resolveKmsKeyId } from './key-ids.ts';

/** Every KMS operation of the AWS face (`TrentService.<Operation>`), keyed by operation name (docs/aws.md). */
export function kmsOperations(app: App): Record<string, AwsOperation> {
  return {
    ...keyOperations(app),
    ...cryptoOperations(app),
    ...asymmetricOperations(app),
    ...aliasOperations(app),
    ...tagPolicyOperations(app),
    ...rotationOperations(app),
    ...grantOperationsOf(app),
    ...absentFeatureOperations(app),
  };
}
