import { Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import { randomString } from '../../rotation/random-rotator.ts';
import { AwsError } from '../aws-errors.ts';
import { type AwsOperation, awsOperation } from '../aws-operation.ts';
import { resolveSecret, secretArnOf } from './sm-scope.ts';
import { SecretIdField, TokenField, asValueOperation, requireToken, str } from './sm-wire.ts';

const lower = 'abcdefghijklmnopqrstuvwxyz';
const upper = lower.toUpperCase();
const digits = '0123456789';
const punctuation = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** The rotation period RotationRules ask for, in seconds (AutomaticallyAfterDays or `rate(…)`). */
function periodOf(rules: {
  AutomaticallyAfterDays?: number | undefined;
  ScheduleExpression?: string | undefined;
  Duration?: string | undefined;
}): number {
  if (rules.AutomaticallyAfterDays !== undefined && rules.ScheduleExpression !== undefined)
    throw new AwsError(
      'InvalidParameterException',
      'Give AutomaticallyAfterDays or ScheduleExpression, not both.',
    );
  if (rules.Duration !== undefined && !/^([1-9]|1\d|2[0-4])h$/.test(rules.Duration))
    throw new AwsError('InvalidParameterException', 'Duration must be 1h to 24h.');
  if (rules.AutomaticallyAfterDays !== undefined) return rules.AutomaticallyAfterDays * 86_400;
  const rate = /^rate\(\s*(\d+)\s+(hours?|days?)\s*\)$/.exec(rules.ScheduleExpression ?? '');
  if (!rate)
    throw new AwsError(
      'InvalidParameterException',
      'ScheduleExpression must be rate(N days) or rate(N hours): Coffer rotates on a fixed period and has no cron schedules.',
    );
  const n = Number(rate[1]);
  const periodSeconds = rate[2]!.startsWith('hour') ? n * 3600 : n * 86_400;
  if (periodSeconds < 4 * 3600 || periodSeconds > 1000 * 86_400)
    throw new AwsError(
      'InvalidParameterException',
      'The rotation period must be between 4 hours and 1000 days.',
    );
  return periodSeconds;
}

/** RotateSecret and CancelRotateSecret (Coffer's rotators, never Lambda), GetRandomPassword. */
export function rotationOperations(app: App): Record<string, AwsOperation> {
  return {
    RotateSecret: awsOperation({
      input: Type.Object({
        SecretId: SecretIdField,
        ClientRequestToken: TokenField,
        RotationLambdaARN: Type.Optional(str(0, 2048)),
        RotationRules: Type.Optional(
          Type.Object({
            AutomaticallyAfterDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
            Duration: Type.Optional(str(2, 3)),
            ScheduleExpression: Type.Optional(str(1, 256)),
          }),
        ),
        RotateImmediately: Type.Optional(Type.Boolean()),
      }),
      changesState: true,
      handler: async (call, input) => {
        requireToken(input.ClientRequestToken, 'InvalidParameterException');
        const named = await resolveSecret(call, app, input.SecretId, 'secrets.secrets.rotate', {
          live: true,
        });
        let { secret } = named;
        // Coffer never invokes Lambda functions (it runs its own rotators, configured natively):
        // answered as AWS answers a function it cannot invoke, and nothing is changed.
        if (input.RotationLambdaARN)
          throw new AwsError(
            'AccessDeniedException',
            'Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.',
          );
        if (input.RotationRules) {
          // Setting a schedule changes the secret's metadata, as the native PATCH does.
          await call.authorize('secrets.secrets.update', named.resource);
          const periodSeconds = periodOf(input.RotationRules);
          secret = await app.secrets.patch(
            secret,
            secret.instanceId,
            secret.path,
            { rotation: { periodSeconds, ...(secret.rotator ? { rotator: secret.rotator } : {}) } },
            undefined,
          );
        }
        const immediately = input.RotateImmediately !== false;
        if (immediately && !secret.rotator)
          throw new AwsError(
            'InvalidRequestException',
            'This secret has no rotator: Coffer does not run Lambda functions; configure a Coffer rotator (random, postgresql or webhook) on the secret through the native API, then rotate.',
          );
        if (!immediately) return { ARN: secretArnOf(call, secret), Name: secret.path };
        const { version } = await asValueOperation('encrypt', () =>
          app.rotation.rotateNow(secret, secret.instanceId, secret.path, call.caller),
        );
        call.auditDetails.version = version;
        const versionId = (await app.secretAttributes.versionIds(secret, [version])).get(version);
        return {
          ARN: secretArnOf(call, secret),
          Name: secret.path,
          ...(versionId ? { VersionId: versionId } : {}),
        };
      },
    }),

    CancelRotateSecret: awsOperation({
      input: Type.Object({ SecretId: SecretIdField }),
      changesState: true,
      handler: async (call, input) => {
        const { secret } = await resolveSecret(call, app, input.SecretId, 'secrets.secrets.update', {
          live: true,
        });
        // Automatic rotation stops; a configured rotator stays for RotateSecret to use.
        const next = await app.secrets.patch(
          secret,
          secret.instanceId,
          secret.path,
          { rotation: secret.rotator ? { rotator: secret.rotator } : null },
          undefined,
        );
        return { ARN: secretArnOf(call, next), Name: next.path };
      },
    }),

    GetRandomPassword: awsOperation({
      input: Type.Object({
        PasswordLength: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096 })),
        ExcludeCharacters: Type.Optional(str(0, 4096)),
        ExcludeNumbers: Type.Optional(Type.Boolean()),
        ExcludePunctuation: Type.Optional(Type.Boolean()),
        ExcludeUppercase: Type.Optional(Type.Boolean()),
        ExcludeLowercase: Type.Optional(Type.Boolean()),
        IncludeSpace: Type.Optional(Type.Boolean()),
        RequireEachIncludedType: Type.Optional(Type.Boolean()),
      }),
      changesState: false,
      handler: async (_call, input) => {
        const excluded = new Set(input.ExcludeCharacters ?? '');
        // The types RequireEachIncludedType asks one character of (AWS: a lowercase and an uppercase
        // letter, a number, a punctuation mark); a space, when included, is not one of them.
        const types = [
          input.ExcludeLowercase ? '' : lower,
          input.ExcludeUppercase ? '' : upper,
          input.ExcludeNumbers ? '' : digits,
          input.ExcludePunctuation ? '' : punctuation,
        ]
          .map((set) => [...set].filter((c) => !excluded.has(c)).join(''))
          .filter((set) => set.length > 0);
        const alphabet = types.join('') + (input.IncludeSpace && !excluded.has(' ') ? ' ' : '');
        const length = input.PasswordLength ?? 32;
        if (alphabet.length < 2)
          throw new AwsError(
            'InvalidParameterException',
            'The exclusions leave fewer than 2 characters to choose from.',
          );
        const requireEach = input.RequireEachIncludedType !== false;
        if (requireEach && length < types.length)
          throw new AwsError(
            'InvalidParameterException',
            `PasswordLength ${length} is too short to include each of the ${types.length} character types.`,
          );
        for (;;) {
          const password = randomString(alphabet, length);
          if (!requireEach || types.every((set) => [...password].some((c) => set.includes(c))))
            return { RandomPassword: password };
        }
      },
    }),
  };
}
