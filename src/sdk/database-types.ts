// The types of the dynamic-credential API (databases, roles, issue, leases).
import type { Static } from '@sinclair/typebox';
import type { RevokePrefixView } from '../core/api/lease-schemas.ts';

export type { LeaseView } from '../core/api/lease-schemas.ts';

/** A duration: `"3600s"` or a number of seconds. */
export type DurationValue = string | number;

/** `POST …/databases` body. */
export interface CreateDatabaseBody {
  name: string;
  host: string;
  port?: number;
  database: string;
  /** A secret path in the instance, or a full secret name in the project, holding the admin login. */
  adminSecret: string;
  sslmode?: string;
  maxOpenConnections?: number;
}

/** `PATCH …/databases/{db}` body. */
export type PatchDatabaseBody = Partial<Omit<CreateDatabaseBody, 'name'>>;

/** A database connection (never the admin password: only the secret reference). */
export interface DatabaseView {
  name: string;
  host: string;
  port: number;
  database: string;
  adminSecret: string;
  sslmode?: string;
  maxOpenConnections: number;
  createTime?: string;
  updateTime?: string;
  [field: string]: unknown;
}

/** `PUT …/roles/{role}` body. */
export interface PutDatabaseRoleBody {
  creationStatements: string[];
  revocationStatements?: string[];
  defaultTtl: DurationValue;
  maxTtl: DurationValue;
  renewable?: boolean;
}

/** A role of a database connection. */
export interface DatabaseRoleView {
  name: string;
  creationStatements: string[];
  revocationStatements?: string[];
  defaultTtl: DurationValue;
  maxTtl: DurationValue;
  renewable: boolean;
  [field: string]: unknown;
}

/** The lease of an issued credential, as `issue` answers it. */
export interface IssuedLeaseView {
  id: string;
  name: string;
  /** Seconds. */
  ttl: number;
  renewable: boolean;
  expireTime: string;
}

/** `issue`'s answer: the password is shown once. */
export interface IssuedCredentialView {
  username: string;
  password: string;
  lease: IssuedLeaseView;
}

/** `revoke-prefix`'s answer: how many leases moved into revocation. */
export type RevokedCountView = Static<typeof RevokePrefixView>;
