import { type Static, Type } from '@sinclair/typebox';
import { Body, Timestamp, Uuid } from './common-schemas.ts';

/** An AWS access key as listed: never its secret. */
export const AccessKeyView = Type.Object({
  accessKeyId: Type.String({ description: 'AKIA and 16 base32 characters' }),
  principal: Type.String({ description: 'user:{email} or serviceAccount:{email}' }),
  projectId: Type.String(),
  disabled: Type.Boolean(),
  createTime: Timestamp,
});
export type AccessKeyView = Static<typeof AccessKeyView>;

/** A created access key: its secret is answered this once and never again. */
export const CreatedAccessKeyView = Type.Object({
  accessKeyId: Type.String(),
  secretAccessKey: Type.String({ description: '40 characters; shown once' }),
  principal: Type.String(),
  projectId: Type.String(),
  awsAccountId: Type.String({ description: 'the project’s 12-digit AWS account id' }),
  disabled: Type.Boolean(),
  createTime: Timestamp,
});
export type CreatedAccessKeyView = Static<typeof CreatedAccessKeyView>;

/** `POST /v2/access-keys` body: the project the caller's own key acts in. */
export const CreateOwnAccessKeyBody = Body({ projectId: Uuid });
export type CreateOwnAccessKeyBody = Static<typeof CreateOwnAccessKeyBody>;
