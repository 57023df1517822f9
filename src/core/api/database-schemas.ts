import { type Static, Type } from '@sinclair/typebox';
import { Body, PageOf, Timestamp } from './common-schemas.ts';
import { TtlDuration } from './lease-schemas.ts';

const DatabaseId = Type.String({
  minLength: 1,
  maxLength: 63,
  description: 'lowercase letters, digits and hyphens',
});
const SslMode = Type.Union([Type.Literal('disable'), Type.Literal('require'), Type.Literal('verify-full')]);
const SecretRef = Type.String({
  minLength: 1,
  maxLength: 1600,
  description: 'a secret path in this instance, or a full secret name of the same project',
});
const Statements = Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 20 });

/** `POST …/instances/{i}/databases` body. */
export const CreateDatabaseBody = Body({
  name: DatabaseId,
  host: Type.String({ minLength: 1, maxLength: 255 }),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  database: Type.String({ minLength: 1, maxLength: 63 }),
  adminSecret: SecretRef,
  sslmode: Type.Optional(SslMode),
  maxOpenConnections: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
});
export type CreateDatabaseBody = Static<typeof CreateDatabaseBody>;

/** `PATCH …/databases/{db}` body (the name never changes). */
export const UpdateDatabaseBody = Body({
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  database: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
  adminSecret: Type.Optional(SecretRef),
  sslmode: Type.Optional(SslMode),
  maxOpenConnections: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  etag: Type.Optional(Type.String({ maxLength: 100 })),
});
export type UpdateDatabaseBody = Static<typeof UpdateDatabaseBody>;

/** A database connection (its admin secret as the reference given, never a value). */
export const DatabaseView = Type.Object({
  name: Type.String({ description: 'projects/…/instances/{i}/databases/{db}' }),
  id: Type.String(),
  host: Type.String(),
  port: Type.Integer(),
  database: Type.String(),
  adminSecret: Type.String(),
  sslmode: Type.Optional(SslMode),
  maxOpenConnections: Type.Integer(),
  etag: Type.String(),
  createTime: Timestamp,
  updateTime: Timestamp,
});
export type DatabaseView = Static<typeof DatabaseView>;

/** A page of database connections. */
export const DatabasePage = PageOf(DatabaseView);

/** `PUT …/databases/{db}/roles/{role}` body. */
export const PutDatabaseRoleBody = Body({
  creationStatements: Statements,
  revocationStatements: Type.Optional(Statements),
  defaultTtl: TtlDuration,
  maxTtl: TtlDuration,
  renewable: Type.Optional(Type.Boolean()),
  etag: Type.Optional(Type.String({ maxLength: 100 })),
});
export type PutDatabaseRoleBody = Static<typeof PutDatabaseRoleBody>;

/** A database role (statement templates, never a credential). */
export const DatabaseRoleView = Type.Object({
  name: Type.String({ description: 'projects/…/databases/{db}/roles/{role}' }),
  id: Type.String(),
  creationStatements: Type.Array(Type.String()),
  revocationStatements: Type.Optional(
    Type.Array(Type.String(), {
      description: 'absent: the default (terminate, reassign, drop owned, drop role)',
    }),
  ),
  defaultTtl: Type.String({ description: 'seconds, e.g. "3600s"' }),
  maxTtl: Type.String({ description: 'seconds, e.g. "86400s"' }),
  renewable: Type.Boolean(),
  etag: Type.String(),
  createTime: Timestamp,
  updateTime: Timestamp,
});
export type DatabaseRoleView = Static<typeof DatabaseRoleView>;

/** A page of database roles. */
export const DatabaseRolePage = PageOf(DatabaseRoleView);

/** `POST …/roles/{role}/issue` body (no body: the role's defaultTtl). */
export const IssueCredentialBody = Body({
  // Checked by the service (parseTtlSeconds), whose message names the accepted forms.
  ttl: Type.Optional(
    Type.Union([Type.String({ maxLength: 32 }), Type.Number()], {
      description: 'a duration: "3600s", whole seconds, "15m", "1h" or "7d"',
    }),
  ),
});
export type IssueCredentialBody = Static<typeof IssueCredentialBody>;

/** An issued credential: the password is shown here once and never again. */
export const IssuedCredentialView = Type.Object({
  username: Type.String(),
  password: Type.String(),
  lease: Type.Object({
    id: Type.String(),
    name: Type.String(),
    ttl: Type.Integer({ description: 'seconds until expireTime' }),
    renewable: Type.Boolean(),
    expireTime: Timestamp,
    maxExpireTime: Timestamp,
  }),
});
export type IssuedCredentialView = Static<typeof IssuedCredentialView>;
