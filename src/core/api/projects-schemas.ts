import { type Static, Type } from '@sinclair/typebox';
import { Body, Timestamp, Uuid } from './common-schemas.ts';

/** Feature gates of a project. */
export const Features = Type.Object(
  { secrets: Type.Boolean(), kms: Type.Boolean() },
  { additionalProperties: false },
);

/** A project as the API shows it. */
export const ProjectView = Type.Object({
  id: Uuid,
  displayName: Type.String(),
  /** The project's 12-digit AWS account id (the AWS face's ARNs name it). */
  awsAccountId: Type.String(),
  features: Features,
  etag: Type.String(),
  createTime: Timestamp,
  updateTime: Timestamp,
});
export type ProjectView = Static<typeof ProjectView>;

/** `POST /v2/projects` body. */
export const CreateProjectBody = Body({
  id: Type.Optional(Uuid),
  displayName: Type.Optional(Type.String({ maxLength: 200 })),
  features: Type.Optional(Type.Partial(Features)),
  /** 12 digits, unique; generated when absent. */
  awsAccountId: Type.Optional(Type.String({ pattern: '^[0-9]{12}$' })),
});
export type CreateProjectBody = Static<typeof CreateProjectBody>;

/** `PATCH /v2/projects/{projectId}` body. */
export const UpdateProjectBody = Body({
  displayName: Type.Optional(Type.String({ maxLength: 200 })),
  features: Type.Optional(Type.Partial(Features)),
  etag: Type.Optional(Type.String({ maxLength: 100 })),
});
export type UpdateProjectBody = Static<typeof UpdateProjectBody>;

/** A region as the API shows it. */
export const RegionView = Type.Object({ id: Type.String(), kms: Type.Boolean() });
export type RegionView = Static<typeof RegionView>;
