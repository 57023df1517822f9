import { type Static, Type } from '@sinclair/typebox';
import { Body, PageOf, Timestamp } from './common-schemas.ts';

/** A lease id: `l-` and 26 characters of random base32. */
export const LeaseId = Type.String({ pattern: '^l-[a-z2-7]{26}$', description: 'a lease id (l-…)' });

/** The states of a lease. */
export const LeaseStateSchema = Type.Union([
  Type.Literal('active'),
  Type.Literal('revoking'),
  Type.Literal('revoked'),
  Type.Literal('revoke_failed'),
]);

/** A lease of a dynamic database credential (never the password). */
export const LeaseView = Type.Object({
  id: Type.String(),
  name: Type.String({ description: 'projects/…/databases/{db}/roles/{role}/leases/{id}' }),
  username: Type.String(),
  principal: Type.String({ description: 'the principal the credential was issued to' }),
  state: LeaseStateSchema,
  issueTime: Timestamp,
  expireTime: Timestamp,
  maxExpireTime: Timestamp,
  renewable: Type.Boolean(),
  revokeTime: Type.Optional(Timestamp),
  attempts: Type.Optional(
    Type.Integer({ description: 'failed revocation attempts so far (revoking, revoke_failed)' }),
  ),
  nextAttemptTime: Type.Optional(Timestamp),
  lastError: Type.Optional(Type.String({ description: 'the last revocation failure (redacted)' })),
});
export type LeaseView = Static<typeof LeaseView>;

/** A page of leases. */
export const LeasePage = PageOf(LeaseView);

/** A TTL: `"3600s"`, whole seconds, or with a unit as Vault writes it (`"15m"`, `"1h"`, `"7d"`). */
export const TtlDuration = Type.Union([
  Type.String({ pattern: '^(\\d{1,12}(\\.\\d{1,9})?s|\\d{1,9}[mhd])$', maxLength: 32 }),
  Type.Integer({ minimum: 1 }),
]);

/** `POST /v2/leases/{id}/renew` body (no body: the role's defaultTtl). */
export const RenewLeaseBody = Body({
  increment: Type.Optional(TtlDuration),
});
export type RenewLeaseBody = Static<typeof RenewLeaseBody>;

/** `GET …/databases/{db}/leases` query. */
export const ListLeasesQuery = Type.Object(
  {
    role: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
    state: Type.Optional(LeaseStateSchema),
    pageSize: Type.Optional(
      Type.Integer({ minimum: 1, description: 'default 100; values above 1000 are clamped' }),
    ),
    pageToken: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);
export type ListLeasesQuery = Static<typeof ListLeasesQuery>;

/** `POST …/databases/{db}/leases/revoke-prefix` body. */
export const RevokePrefixBody = Body({
  role: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
});
export type RevokePrefixBody = Static<typeof RevokePrefixBody>;

/** `POST …/leases/revoke-prefix` answer. */
export const RevokePrefixView = Type.Object({
  revoked: Type.Integer({
    description:
      'leases moved into revocation now (the expiry job revokes them, bounded concurrency; list with state=revoking to follow)',
  }),
});
