/**
 * The AWS face's operations by service and name: the Secrets Manager operations
 * (secretsmanager/index.ts) and the KMS operations (kms/index.ts).
 */
import type { App } from '../app/app.ts';
import type { AwsRegistry } from './aws-face.ts';
import { kmsOperations } from './kms/index.ts';
import { secretsManagerOperations } from './secretsmanager/index.ts';

/** Every operation of the face. */
export function awsOperations(app: App): AwsRegistry {
  return { secretsmanager: secretsManagerOperations(app), kms: kmsOperations(app) };
}
