import type { App } from '../../app/app.ts';
import { newUuid } from '../../core/ids.ts';
import type { ValueInput } from '../../secrets/value-fns.ts';
import type { AwsCall } from '../aws-operation.ts';
import { type NamedSecret, secretArnOf } from './sm-scope.ts';
import { asValueOperation } from './sm-wire.ts';

/**
 * Adds a version to a secret (PutSecretValue, UpdateSecret with a value) with the native put: the
 * ClientRequestToken (or a fresh UUID, as AWS makes one when none is sent) is the idempotency key and
 * becomes the version's VersionId; the same token with the same value and stages answers the first
 * version, with another value ResourceExistsException. `stages` are Coffer stages (default current).
 * Returns the VersionId.
 */
export async function putVersion(
  call: AwsCall,
  app: App,
  named: NamedSecret,
  value: ValueInput,
  stages: string[] | undefined,
  token: string | undefined,
): Promise<string> {
  const key = token ?? newUuid();
  const { secret } = named;
  const { version } = await asValueOperation(
    'encrypt',
    () =>
      app.secretValues.putValue(
        secret,
        secret.instanceId,
        secret.path,
        { ...value, ...(stages ? { stages } : {}) },
        key,
        call.caller,
      ),
    { token: key, arn: secretArnOf(call, secret) },
  );
  call.auditDetails.version = version;
  return key;
}
