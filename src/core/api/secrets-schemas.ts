import { type Static, Type } from '@sinclair/typebox';
import { Body, Timestamp, Uuid } from './common-schemas.ts';
import { Base64, Duration } from './kms-schemas.ts';
import { RotationStatusView, RotatorConfig } from './rotation-schemas.ts';

/** Seed 002's kmsKey object. */
export const KmsKeyObject = Type.Object(
  {
    regionId: Type.String({ minLength: 1, maxLength: 64 }),
    projectId: Uuid,
    serviceAccountEmail: Type.String({ minLength: 3, maxLength: 254 }),
    keyRingId: Uuid,
    keyId: Uuid,
    keyVersion: Type.Integer({ minimum: 1, maximum: 4294967295 }),
  },
  { additionalProperties: false },
);

/** An instance. */
export const InstanceView = Type.Object({
  id: Uuid,
  name: Type.String(),
  projectId: Type.String(),
  regionId: Type.String(),
  kmsKey: Type.Union([KmsKeyObject, Type.Null()]),
  etag: Type.String(),
  createTime: Timestamp,
  updateTime: Timestamp,
  operation: Type.Optional(Type.Object({ id: Type.String(), name: Type.String() })),
});
export type InstanceView = Static<typeof InstanceView>;

/** `POST …/instances` and `PUT …/instances/{id}` body. */
export const InstanceBody = Body({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  kmsKey: Type.Optional(Type.Union([KmsKeyObject, Type.Null()])),
  etag: Type.Optional(Type.String({ maxLength: 100 })),
});
export type InstanceBody = Static<typeof InstanceBody>;

/** A long-running operation. */
export const OperationView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  done: Type.Boolean(),
  state: Type.String(),
  error: Type.Optional(Type.String()),
  progress: Type.Object({ total: Type.Integer(), done: Type.Integer() }),
});

const StringMap = Type.Record(Type.String({ maxLength: 63 }), Type.String({ maxLength: 256 }));
/** A secret's rotation: a schedule (`period`), a rotator (what rotating does), or both. */
const Rotation = Type.Object(
  {
    // null as the view shows "none" (a rotator without a schedule), so a view can be sent back.
    period: Type.Optional(Type.Union([Duration, Type.Null()])),
    nextRotationTime: Type.Optional(Type.Union([Timestamp, Type.Null()])),
    rotator: Type.Optional(RotatorConfig),
  },
  { additionalProperties: false },
);

/** Secret metadata. */
export const SecretView = Type.Object({
  name: Type.String(),
  path: Type.String(),
  instanceId: Type.String(),
  kmsKey: Type.Object({ identity: Type.Union([Type.String(), Type.Null()]), status: Type.String() }),
  labels: StringMap,
  annotations: StringMap,
  expireTime: Type.Union([Timestamp, Type.Null()]),
  rotation: Type.Union([
    Type.Object({
      period: Type.Union([Type.String(), Type.Null()]),
      nextRotationTime: Type.Union([Timestamp, Type.Null()]),
      rotator: Type.Optional(RotatorConfig),
    }),
    Type.Null(),
  ]),
  rotationStatus: RotationStatusView,
  deleteTime: Type.Union([Timestamp, Type.Null()]),
  latestVersion: Type.Integer(),
  etag: Type.String(),
  createTime: Timestamp,
  updateTime: Timestamp,
});
export type SecretView = Static<typeof SecretView>;

/** `POST …/secrets` body. */
export const CreateSecretBody = Body({
  path: Type.String({ minLength: 1, maxLength: 512 }),
  kmsKeyIdentity: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  value: Type.Optional(Type.String({ maxLength: 262144 })),
  binaryValue: Type.Optional(Base64),
  labels: Type.Optional(StringMap),
  annotations: Type.Optional(StringMap),
  expireTime: Type.Optional(Timestamp),
  ttl: Type.Optional(Duration),
  rotation: Type.Optional(Rotation),
});
export type CreateSecretBody = Static<typeof CreateSecretBody>;

/** `PATCH …/secrets/{secret}` body. */
export const PatchSecretBody = Body({
  labels: Type.Optional(StringMap),
  annotations: Type.Optional(StringMap),
  expireTime: Type.Optional(Type.Union([Timestamp, Type.Null()])),
  ttl: Type.Optional(Duration),
  rotation: Type.Optional(Type.Union([Rotation, Type.Null()])),
  kmsKeyIdentity: Type.Optional(Type.String({ maxLength: 512 })),
  etag: Type.Optional(Type.String({ maxLength: 100 })),
});
export type PatchSecretBody = Static<typeof PatchSecretBody>;

/** getSecretValue answer. */
export const SecretValueView = Type.Object({
  value: Type.Optional(Type.String()),
  binaryValue: Type.Optional(Base64),
  version: Type.Integer(),
  stages: Type.Array(Type.String()),
  createTime: Timestamp,
});

/** putSecretValue body. */
export const PutValueBody = Body({
  value: Type.Optional(Type.String({ maxLength: 262144 })),
  binaryValue: Type.Optional(Base64),
  stages: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 20 })),
  expectedLatestVersion: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type PutValueBody = Static<typeof PutValueBody>;

/** A secret version's metadata. */
export const SecretVersionView = Type.Object({
  version: Type.Integer(),
  state: Type.String(),
  stages: Type.Array(Type.String()),
  createTime: Timestamp,
  createdBy: Type.String(),
  destroyTime: Type.Union([Timestamp, Type.Null()]),
});

/** `PUT …/stages/{stage}` body. */
export const MoveStageBody = Body({ version: Type.Integer({ minimum: 1 }) });
export type MoveStageBody = Static<typeof MoveStageBody>;

/** `POST …/secrets:batchGetValues` body. */
export const BatchGetBody = Body({
  secrets: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { minItems: 1, maxItems: 20 }),
});
export type BatchGetBody = Static<typeof BatchGetBody>;

/**
 * Dependents of a key: the names the caller may read (`secrets.secrets.get`, `secrets.instances.get`),
 * and the counts of all of them, named or not.
 */
export const DependentsView = Type.Object({
  secrets: Type.Array(Type.String()),
  instances: Type.Array(Type.String()),
  secretCount: Type.Integer(),
  instanceCount: Type.Integer(),
});
