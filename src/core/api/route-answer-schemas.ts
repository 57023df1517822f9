import { type Static, Type } from '@sinclair/typebox';
import { SecretValueView } from './secrets-schemas.ts';

/**
 * Answers that routes declared inline (or not at all) when this file was written, named so that the
 * SDK types them from one place. The routes may import them to declare the same shapes.
 */

/** putSecretValue answer (201). */
export const PutValueView = Type.Object({ version: Type.Integer() });
export type PutValueView = Static<typeof PutValueView>;

/** A staging label and the version it is on (`GET …/stages` items, `PUT …/stages/{stage}` answer). */
export const StageView = Type.Object({ stage: Type.String(), version: Type.Integer() });
export type StageView = Static<typeof StageView>;

/** `POST …/secrets:batchGetValues` answer: the values read, and an error per secret that was not. */
export const BatchGetValuesView = Type.Object({
  values: Type.Array(Type.Intersect([Type.Object({ path: Type.String() }), SecretValueView])),
  errors: Type.Array(
    Type.Object({
      path: Type.String(),
      error: Type.Object({ code: Type.String(), message: Type.String() }),
    }),
  ),
});
export type BatchGetValuesView = Static<typeof BatchGetValuesView>;

/** `POST /v2/users` answer. */
export const UserView = Type.Object({ email: Type.String() });
export type UserView = Static<typeof UserView>;

/** `GET /v2/sys/audit-public-key` answer. */
export const AuditPublicKeyView = Type.Object({ pem: Type.String() });
export type AuditPublicKeyView = Static<typeof AuditPublicKeyView>;
