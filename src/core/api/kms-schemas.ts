import { type Static, Type } from '@sinclair/typebox';
import { kmsAlgorithms, kmsPurposes } from '../kms-algorithm-names.ts';
import { Body, Timestamp, Uuid } from './common-schemas.ts';

/** Standard base64 (RFC 4648 §4), as every binary field of the API. */
export const Base64 = Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$', description: 'base64' });

/** A duration: `"3600s"` or whole seconds. */
export const Duration = Type.Union([
  Type.String({ pattern: '^\\d{1,12}(\\.\\d{1,9})?s$' }),
  Type.Integer({ minimum: 0 }),
]);

/** The key ring view. */
export const KeyRingView = Type.Object({
  id: Uuid,
  name: Type.String(),
  displayName: Type.String(),
  description: Type.String(),
  createTime: Timestamp,
});
export type KeyRingView = Static<typeof KeyRingView>;

/** `POST …/keyrings` body. */
export const CreateKeyRingBody = Body({
  id: Type.Optional(Uuid),
  displayName: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.String({ maxLength: 1000 })),
});
export type CreateKeyRingBody = Static<typeof CreateKeyRingBody>;

const Algorithm = Type.Union(kmsAlgorithms.map((a) => Type.Literal(a)));
const Purpose = Type.Union(kmsPurposes.map((p) => Type.Literal(p)));

/** The key view (metadata; readable in every state). */
export const KeyView = Type.Object({
  id: Uuid,
  name: Type.String(),
  slug: Type.Union([Type.String(), Type.Null()]),
  displayName: Type.String(),
  algorithm: Type.String(),
  purpose: Type.String(),
  state: Type.String(),
  primaryVersion: Type.Integer(),
  rotationPeriod: Type.Union([Type.String(), Type.Null()]),
  nextRotationTime: Type.Union([Timestamp, Type.Null()]),
  deletionTime: Type.Union([Timestamp, Type.Null()]),
  createTime: Timestamp,
  updateTime: Timestamp,
});
export type KeyView = Static<typeof KeyView>;

/** `POST …/keys` body. */
export const CreateKeyBody = Body({
  id: Type.Optional(Uuid),
  algorithm: Algorithm,
  purpose: Type.Optional(Purpose),
  slug: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' })),
  displayName: Type.Optional(Type.String({ maxLength: 200 })),
  rotationPeriod: Type.Optional(Duration),
});
export type CreateKeyBody = Static<typeof CreateKeyBody>;

/** The key version view. */
export const KeyVersionView = Type.Object({
  version: Type.Integer(),
  name: Type.String(),
  state: Type.String(),
  createTime: Timestamp,
  destroyTime: Type.Union([Timestamp, Type.Null()]),
});
export type KeyVersionView = Static<typeof KeyVersionView>;

/** `POST …/schedule-deletion` body. */
export const ScheduleDeletionBody = Body({
  pendingWindowDays: Type.Optional(Type.Integer({ minimum: 7, maximum: 30 })),
});
export type ScheduleDeletionBody = Static<typeof ScheduleDeletionBody>;

/** `?force=true` of disable and schedule-deletion. */
export const ForceQuery = Type.Object(
  { force: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
export type ForceQuery = Static<typeof ForceQuery>;

/** An optional key version number in a crypto body. */
const KeyVersionField = Type.Optional(Type.Integer({ minimum: 1, maximum: 4294967295 }));

/** `encrypt` body. */
export const EncryptBody = Body({
  plaintext: Base64,
  aad: Type.Optional(Base64),
  keyVersion: KeyVersionField,
});
export type EncryptBody = Static<typeof EncryptBody>;

/** `decrypt` body. */
export const DecryptBody = Body({
  ciphertext: Base64,
  aad: Type.Optional(Base64),
  keyVersion: KeyVersionField,
});
export type DecryptBody = Static<typeof DecryptBody>;

/** `generate-data-key` body. */
export const GenerateDataKeyBody = Body({
  numberOfBytes: Type.Union([Type.Literal(16), Type.Literal(32), Type.Literal(64)]),
  includePlaintext: Type.Optional(Type.Boolean()),
  aad: Type.Optional(Base64),
});
export type GenerateDataKeyBody = Static<typeof GenerateDataKeyBody>;

/** `rewrap` body. */
export const RewrapBody = Body({ ciphertext: Base64, aad: Type.Optional(Base64) });
export type RewrapBody = Static<typeof RewrapBody>;

/** `sign` body: exactly one of data and digest. */
export const SignBody = Body({
  data: Type.Optional(Base64),
  digest: Type.Optional(Base64),
  keyVersion: KeyVersionField,
});
export type SignBody = Static<typeof SignBody>;

/** `verify` body. */
export const VerifyBody = Body({
  data: Type.Optional(Base64),
  digest: Type.Optional(Base64),
  signature: Base64,
  keyVersion: KeyVersionField,
});
export type VerifyBody = Static<typeof VerifyBody>;

/** `mac` body. */
export const MacBody = Body({ data: Base64, keyVersion: KeyVersionField });
export type MacBody = Static<typeof MacBody>;

/** `verify-mac` body. */
export const VerifyMacBody = Body({ data: Base64, mac: Base64, keyVersion: KeyVersionField });
export type VerifyMacBody = Static<typeof VerifyMacBody>;

/** Answers of crypto operations. */
export const CiphertextView = Type.Object({ ciphertext: Base64, keyVersion: Type.Integer() });
export const PlaintextView = Type.Object({ plaintext: Base64, keyVersion: Type.Integer() });
export const DataKeyView = Type.Object({
  ciphertext: Base64,
  plaintext: Type.Optional(Base64),
  keyVersion: Type.Integer(),
});
export const SignatureView = Type.Object({ signature: Base64, keyVersion: Type.Integer() });
export const ValidView = Type.Object({ valid: Type.Boolean(), keyVersion: Type.Integer() });
export const MacView = Type.Object({ mac: Base64, keyVersion: Type.Integer() });
export const PublicKeyView = Type.Object({ pem: Type.String(), algorithm: Type.String() });
