// The types of the dynamic-credential API (databases, roles, issue, leases), from the shared schemas.
import type { Static } from '@sinclair/typebox';
import type { RevokePrefixView } from '../core/api/lease-schemas.ts';

export type {
  CreateDatabaseBody,
  DatabaseRoleView,
  DatabaseView,
  IssuedCredentialView,
  PutDatabaseRoleBody,
  UpdateDatabaseBody as PatchDatabaseBody,
} from '../core/api/database-schemas.ts';
export type { LeaseView } from '../core/api/lease-schemas.ts';

/** A duration: `"3600s"`, `"15m"`, `"1h"`, `"7d"`, or a number of seconds. */
export type DurationValue = string | number;

/** `revoke-prefix`'s answer: how many leases moved into revocation. */
export type RevokedCountView = Static<typeof RevokePrefixView>;
