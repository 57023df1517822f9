/** Where database connections live: a Secrets Manager instance. */
export interface DatabaseLocation {
  readonly projectId: string;
  readonly regionId: string;
  readonly instanceId: string;
}

/** A database connection of an instance (`…/instances/{i}/databases/{name}`). */
export interface DbConnection extends DatabaseLocation {
  readonly uid: string;
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** The admin credential's secret REF, as given (a path in the instance or a full secret name). */
  readonly adminSecret: string;
  readonly sslmode: string | null;
  readonly maxOpenConnections: number;
  readonly etag: string;
  readonly createTimeMs: number;
  readonly updateTimeMs: number;
}

/** A role of a database connection (`…/databases/{db}/roles/{role}`). */
export interface DbRole {
  readonly uid: string;
  readonly connectionUid: string;
  readonly name: string;
  readonly creationStatements: readonly string[];
  /** Null: the default revocation statements. */
  readonly revocationStatements: readonly string[] | null;
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
  readonly renewable: boolean;
  /**
   * The connection's `adminSecret` when the role was put (null: unknown). A role whose connection
   * names another admin secret now is not issued, and its leases are revoked with the default
   * statements: its SQL was written by someone who could read that other secret only.
   */
  readonly adminSecret: string | null;
  readonly etag: string;
  readonly createTimeMs: number;
  readonly updateTimeMs: number;
}

/** The states of a lease. */
export type LeaseState = 'active' | 'revoking' | 'revoked' | 'revoke_failed';

/** A lease of an issued database credential (never the password). */
export interface DbLease extends DatabaseLocation {
  readonly id: string;
  readonly connectionUid: string;
  readonly roleUid: string;
  readonly databaseName: string;
  readonly roleName: string;
  readonly username: string;
  /** The principal the credential was issued to. */
  readonly principal: string;
  readonly state: LeaseState;
  readonly renewable: boolean;
  readonly issueTimeMs: number;
  readonly expireTimeMs: number;
  readonly maxExpireTimeMs: number;
  readonly revokeTimeMs: number | null;
  readonly attempts: number;
  readonly nextAttemptTimeMs: number | null;
  readonly lastError: string | null;
}
