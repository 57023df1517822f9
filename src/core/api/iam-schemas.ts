import { type Static, Type } from '@sinclair/typebox';
import { Body, Timestamp } from './common-schemas.ts';

/** A member: `user:{email}` or `serviceAccount:{email}`. */
export const Member = Type.String({ pattern: '^(user|serviceAccount):[^\\s:]+@[^\\s:]+$', maxLength: 320 });

/** A binding's condition: time-bound access. */
export const Condition = Type.Object(
  { title: Type.String({ minLength: 1, maxLength: 100 }), expiresAt: Type.Optional(Timestamp) },
  { additionalProperties: false },
);
export type Condition = Static<typeof Condition>;

/** A binding as the API shows and takes it. */
export const BindingView = Type.Object(
  {
    role: Type.String({ minLength: 1, maxLength: 200 }),
    members: Type.Array(Member, { maxItems: 1500 }),
    condition: Type.Optional(Condition),
  },
  { additionalProperties: false },
);
export type BindingView = Static<typeof BindingView>;

/** A policy. */
export const PolicyView = Type.Object({ bindings: Type.Array(BindingView), etag: Type.String() });
export type PolicyView = Static<typeof PolicyView>;

/** `PUT …/iam-policy` body. */
export const SetPolicyBody = Body({
  bindings: Type.Array(BindingView, { maxItems: 500 }),
  etag: Type.Optional(Type.String({ maxLength: 100 })),
});
export type SetPolicyBody = Static<typeof SetPolicyBody>;

/** `POST …/iam-policy:add-binding` body. */
export const AddBindingBody = Body({
  role: Type.String({ minLength: 1, maxLength: 200 }),
  member: Member,
  condition: Type.Optional(Condition),
});
export type AddBindingBody = Static<typeof AddBindingBody>;

/** `POST …/iam-policy:remove-binding` body. */
export const RemoveBindingBody = Body({
  role: Type.String({ minLength: 1, maxLength: 200 }),
  member: Member,
});
export type RemoveBindingBody = Static<typeof RemoveBindingBody>;

/** `POST …/iam:test-permissions` body and answer. */
export const TestPermissionsBody = Body({
  permissions: Type.Array(Type.String({ maxLength: 100 }), { maxItems: 100 }),
});
export type TestPermissionsBody = Static<typeof TestPermissionsBody>;
export const TestPermissionsView = Type.Object({ permissions: Type.Array(Type.String()) });

/** A role (predefined or custom). */
export const RoleView = Type.Object({
  name: Type.String(),
  title: Type.String(),
  permissions: Type.Array(Type.String()),
});
export type RoleView = Static<typeof RoleView>;

/** `POST /v2/projects/{p}/roles` body. */
export const CreateRoleBody = Body({
  roleId: Type.String({ minLength: 3, maxLength: 64 }),
  title: Type.String({ minLength: 1, maxLength: 100 }),
  permissions: Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: 500 }),
});
export type CreateRoleBody = Static<typeof CreateRoleBody>;

/** A permission of the catalogue. */
export const PermissionView = Type.Object({ name: Type.String(), description: Type.String() });

/** `POST /v2/users` body. */
export const CreateUserBody = Body({
  email: Type.String({ minLength: 3, maxLength: 254 }),
  password: Type.String({ minLength: 12, maxLength: 1024 }),
});
export type CreateUserBody = Static<typeof CreateUserBody>;

/** `POST /v2/auth/login` body and answer. */
export const LoginBody = Body({
  email: Type.String({ minLength: 3, maxLength: 254 }),
  password: Type.String({ minLength: 1, maxLength: 1024 }),
});
export type LoginBody = Static<typeof LoginBody>;
export const LoginView = Type.Object({ token: Type.String(), expireTime: Timestamp });

/** A service account. */
export const ServiceAccountView = Type.Object({
  email: Type.String(),
  name: Type.String(),
  projectId: Type.String(),
  displayName: Type.String(),
  disabled: Type.Boolean(),
  createTime: Timestamp,
});
export type ServiceAccountView = Static<typeof ServiceAccountView>;

/** `POST /v2/projects/{p}/service-accounts` body. */
export const CreateServiceAccountBody = Body({
  name: Type.String({ minLength: 6, maxLength: 30 }),
  email: Type.Optional(Type.String({ minLength: 3, maxLength: 254 })),
  displayName: Type.Optional(Type.String({ maxLength: 100 })),
});
export type CreateServiceAccountBody = Static<typeof CreateServiceAccountBody>;

/** `POST …/tokens` body (ttl as "3600s" or seconds). */
export const CreateTokenBody = Body({
  ttl: Type.Optional(
    Type.Union([Type.String({ pattern: '^\\d{1,12}(\\.\\d{1,9})?s$' }), Type.Integer({ minimum: 1 })]),
  ),
});
export type CreateTokenBody = Static<typeof CreateTokenBody>;

/** A token as listed (never the token itself). */
export const TokenInfoView = Type.Object({
  id: Type.String(),
  createTime: Timestamp,
  expireTime: Type.Union([Timestamp, Type.Null()]),
});

/** A newly issued token (shown once). */
export const IssuedTokenView = Type.Object({
  id: Type.String(),
  token: Type.String(),
  createTime: Timestamp,
  expireTime: Type.Union([Timestamp, Type.Null()]),
});

/** `POST /v2/users/{user}:disable|:enable` answer. */
export const UserStateView = Type.Object({ email: Type.String(), disabled: Type.Boolean() });
export type UserStateView = Static<typeof UserStateView>;
