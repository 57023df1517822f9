import { type Static, Type } from '@sinclair/typebox';
import { Timestamp } from './common-schemas.ts';

/**
 * A reference to another secret of the rotated secret's project: a path in the same instance
 * (`db/admin`) or a full secret name (`projects/{p}/regions/{r}/instances/{i}/secrets/{path}`).
 */
export const SecretReference = Type.String({ minLength: 1, maxLength: 1600 });

/** `{type: "random"}`: a new random value of `length` characters of `charset`, minus `exclude`. */
export const RandomRotatorConfig = Type.Object(
  {
    type: Type.Literal('random'),
    length: Type.Optional(Type.Integer({ minimum: 8, maximum: 4096, description: 'default 32' })),
    charset: Type.Optional(
      Type.Union(
        [
          Type.Literal('alphanumeric'),
          Type.Literal('ascii-printable'),
          Type.Literal('hex'),
          Type.Literal('base64url'),
        ],
        { description: 'default alphanumeric' },
      ),
    ),
    exclude: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);
export type RandomRotatorConfig = Static<typeof RandomRotatorConfig>;

/** `{type: "postgresql"}`: ALTER ROLE … PASSWORD with the admin credential of `connectionSecret`. */
export const PostgresRotatorConfig = Type.Object(
  {
    type: Type.Literal('postgresql'),
    connectionSecret: SecretReference,
    strategy: Type.Union([Type.Literal('alternate-users'), Type.Literal('single-user')]),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
    usernames: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 63 }), { minItems: 2, maxItems: 2 }),
    ),
    passwordLength: Type.Optional(Type.Integer({ minimum: 16, maximum: 128, description: 'default 32' })),
    // The target, pinned when the rotator is set (filled from connectionSecret's value when absent):
    // runs never take a host from the connection secret, which supplies the admin's login only.
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    database: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
    sslmode: Type.Optional(
      Type.Union([Type.Literal('disable'), Type.Literal('require'), Type.Literal('verify-full')]),
    ),
  },
  { additionalProperties: false },
);
export type PostgresRotatorConfig = Static<typeof PostgresRotatorConfig>;

/** `{type: "webhook"}`: Coffer calls `url` for the four steps, signed with `signingSecret`'s value. */
export const WebhookRotatorConfig = Type.Object(
  {
    type: Type.Literal('webhook'),
    url: Type.String({
      minLength: 8,
      maxLength: 2048,
      description: 'https://, or http:// to a loopback host',
    }),
    signingSecret: SecretReference,
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 30000, description: 'default 10000' })),
  },
  { additionalProperties: false },
);
export type WebhookRotatorConfig = Static<typeof WebhookRotatorConfig>;

/** A secret's rotator (`rotation.rotator`). */
export const RotatorConfig = Type.Union([RandomRotatorConfig, PostgresRotatorConfig, WebhookRotatorConfig]);
export type RotatorConfig = Static<typeof RotatorConfig>;

/** A rotation step. */
const Step = Type.Union([
  Type.Literal('create'),
  Type.Literal('set'),
  Type.Literal('test'),
  Type.Literal('finish'),
]);

/** A secret's `rotationStatus`: null until it has a rotator or has rotated. */
export const RotationStatusView = Type.Union([
  Type.Object({
    state: Type.Union([Type.Literal('idle'), Type.Literal('in_progress'), Type.Literal('failed')]),
    step: Type.Optional(Step),
    pendingVersion: Type.Optional(Type.Integer()),
    attempts: Type.Integer(),
    lastSuccessTime: Type.Union([Timestamp, Type.Null()]),
    lastFailure: Type.Union([
      Type.Object({ time: Timestamp, step: Step, message: Type.String() }),
      Type.Null(),
    ]),
    nextAttemptTime: Type.Optional(Timestamp),
  }),
  Type.Null(),
]);
export type RotationStatusView = Static<typeof RotationStatusView>;

/** `POST …/secrets/{secret}/rotate` answer. */
export const RotateAnswer = Type.Object({
  version: Type.Integer(),
  rotationStatus: RotationStatusView,
});
