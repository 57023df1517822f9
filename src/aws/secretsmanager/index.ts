import type { App } from '../../app/app.ts';
import type { AwsOperation } from '../aws-operation.ts';
import { listOperations } from './sm-list-ops.ts';
import { policyOperations } from './sm-policy-ops.ts';
import { rotationOperations } from './sm-rotation-ops.ts';
import { secretOperations } from './sm-secret-ops.ts';
import { valueOperations } from './sm-value-ops.ts';

/**
 * The Secrets Manager operations of the AWS face (`secretsmanager.<Operation>`), keyed by operation
 * name; each translates AWS's JSON to the secret services and back (docs/aws.md, "Secrets Manager").
 */
export function secretsManagerOperations(app: App): Record<string, AwsOperation> {
  return {
    ...secretOperations(app),
    ...valueOperations(app),
    ...listOperations(app),
    ...policyOperations(app),
    ...rotationOperations(app),
  };
}
