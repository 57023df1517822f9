import { Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import { CofferError, isCofferError } from '../../core/errors.ts';
import { IdempotencyKeyReused } from '../../secrets/idempotency-keys.ts';
import type { Secret, SecretTag } from '../../secrets/secret-types.ts';
import type { ValueInput } from '../../secrets/value-fns.ts';
import { AwsError } from '../aws-errors.ts';

/** A string field with AWS's length limits. */
export const str = (minLength: number, maxLength: number) => Type.String({ minLength, maxLength });
/** The SecretId field: a name or an ARN. */
export const SecretIdField = str(1, 2048);
/** A ClientRequestToken (the SDK fills one in; it becomes the new version's VersionId). */
export const TokenField = Type.Optional(str(32, 64));
/**
 * AWS refuses a new version without a ClientRequestToken (the SDKs and the CLI always send one):
 * InvalidRequestException, or InvalidParameterException for RotateSecret, before any lookup.
 */
export function requireToken(
  token: string | undefined,
  type: 'InvalidRequestException' | 'InvalidParameterException' = 'InvalidRequestException',
): void {
  if (token === undefined)
    throw new AwsError(type, 'You must provide a ClientRequestToken value. We recommend a UUID-type value.');
}

/** SecretString: 1–65,536 characters (AWS's model; an empty string is not a value). */
export const SecretStringField = Type.Optional(str(1, 65_536));
/** SecretBinary: base64 of 1–65,536 bytes. */
export const SecretBinaryField = Type.Optional(str(1, 87_384));
/** AWS's Tag shape. */
export const TagShape = Type.Object({ Key: Type.Optional(str(1, 128)), Value: Type.Optional(str(0, 256)) });

const toAws: Record<string, string> = {
  current: 'AWSCURRENT',
  previous: 'AWSPREVIOUS',
  pending: 'AWSPENDING',
};
const toCoffer: Record<string, string> = {
  AWSCURRENT: 'current',
  AWSPREVIOUS: 'previous',
  AWSPENDING: 'pending',
};

/** Coffer's stage as AWS labels it (`current` → `AWSCURRENT`; custom stages unchanged). */
export const awsStage = (stage: string): string => toAws[stage] ?? stage;

/** An AWS staging label as Coffer's stage (`AWSCURRENT` → `current`); `current`, `previous`, `pending` are refused. */
export function cofferStage(label: string): string {
  const mapped = toCoffer[label];
  if (mapped) return mapped;
  // Coffer's own names of the AWS labels cannot be custom labels as well.
  if (toAws[label])
    throw new AwsError('InvalidParameterException', `The staging label ${label} is reserved.`);
  return label;
}

/** Epoch seconds (AWS's timestamp on the wire). */
export const seconds = (ms: number): number => ms / 1000;

/** The value of SecretString/SecretBinary: `required` means exactly one; otherwise at most one. */
export function valueOf(
  input: { SecretString?: string | undefined; SecretBinary?: string | undefined },
  required: boolean,
): ValueInput | undefined {
  const { SecretString: text, SecretBinary: blob } = input;
  if (text !== undefined && blob !== undefined)
    throw new AwsError(
      'InvalidParameterException',
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  if (text === undefined && blob === undefined) {
    if (required)
      throw new AwsError(
        'InvalidParameterException',
        'You must provide either SecretString or SecretBinary.',
      );
    return undefined;
  }
  if (text !== undefined) return { value: text };
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(blob!) || blob!.length % 4 !== 0)
    throw new AwsError('InvalidParameterException', 'SecretBinary must be base64.');
  return { binaryValue: Buffer.from(blob!, 'base64') };
}

/** The tags of a request ({Key, Value} pairs; a missing Value is ""). */
export function tagsOf(
  tags: ReadonlyArray<{ Key?: string | undefined; Value?: string | undefined }>,
): SecretTag[] {
  return tags.map((t) => {
    if (t.Key === undefined) throw new AwsError('InvalidParameterException', 'A tag needs a Key.');
    return { key: t.Key, value: t.Value ?? '' };
  });
}

/** A secret's tags as AWS shows them. */
export const awsTags = (secret: Secret) => (secret.tags ?? []).map((t) => ({ Key: t.key, Value: t.value }));

/**
 * Runs a value operation and answers its key and idempotency errors as AWS does: a key that is not
 * active → EncryptionFailure (writes) or DecryptionFailure (reads), with the reason; a token reused
 * for another value → ResourceExistsException; a secret pending deletion → InvalidRequestException.
 */
export async function asValueOperation<T>(
  kind: 'encrypt' | 'decrypt',
  run: () => Promise<T>,
  reuse?: TokenUse,
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw awsValueError(err, kind, reuse);
  }
}

/** The ClientRequestToken of a write and the ARN of its secret (for AWS's reuse message). */
export interface TokenUse {
  readonly token: string;
  readonly arn: string;
}

/** See {@link asValueOperation}. */
export function awsValueError(err: unknown, kind: 'encrypt' | 'decrypt', reuse?: TokenUse): unknown {
  if (err instanceof IdempotencyKeyReused)
    return new AwsError(
      'ResourceExistsException',
      reuse
        ? `You can't use ClientRequestToken ${reuse.token} because that value is already in use for a version of secret ${reuse.arn}.`
        : 'A version with this ClientRequestToken already exists with a different value; use a new token for a new value.',
    );
  if (isCofferError(err, 'key_not_active'))
    return new AwsError(
      kind === 'encrypt' ? 'EncryptionFailure' : 'DecryptionFailure',
      `Secrets Manager can't ${kind} the secret value: the secret's KMS key cannot be used (${err.message}) Metadata operations still work.`,
    );
  if (
    err instanceof CofferError &&
    err.code === 'failed_precondition' &&
    /pending deletion/.test(err.message)
  )
    return new AwsError(
      'InvalidRequestException',
      "You can't perform this operation on the secret because it was marked for deletion.",
    );
  return err;
}

/** The App, as handlers take it. */
export type SmApp = App;
