import { type Static, Type } from '@sinclair/typebox';
import { Timestamp } from './common-schemas.ts';

/** An audit event as the API shows it (SPEC §8). */
export const AuditEventView = Type.Object({
  id: Type.String(),
  time: Timestamp,
  requestId: Type.String(),
  action: Type.String(),
  principal: Type.String(),
  onBehalfOf: Type.Optional(Type.String()),
  resource: Type.String(),
  result: Type.String(),
  status: Type.Integer(),
  sourceIp: Type.Optional(Type.String()),
  userAgent: Type.Optional(Type.String()),
  details: Type.Optional(
    Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
  ),
});
export type AuditEventView = Static<typeof AuditEventView>;

/** Filters of `GET …/audit-events`. */
export const AuditQueryString = Type.Object(
  {
    action: Type.Optional(Type.String({ maxLength: 100 })),
    principal: Type.Optional(Type.String({ maxLength: 320 })),
    resource: Type.Optional(Type.String({ maxLength: 2048, description: 'resource name prefix' })),
    result: Type.Optional(Type.Union([Type.Literal('ok'), Type.Literal('denied'), Type.Literal('error')])),
    requestId: Type.Optional(Type.String({ maxLength: 128 })),
    since: Type.Optional(Timestamp),
    until: Type.Optional(Timestamp),
    pageSize: Type.Optional(Type.Integer({ minimum: 1 })),
    pageToken: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type AuditQueryString = Static<typeof AuditQueryString>;

/** `GET /v2/sys/audit/verify` answer. */
export const VerifyView = Type.Object({
  valid: Type.Boolean(),
  checked: Type.Integer(),
  chains: Type.Integer(),
  unsigned: Type.Integer({ description: 'events after the last signed checkpoint of their chain' }),
  firstBrokenEventId: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
  problems: Type.Array(
    Type.Object({
      chain: Type.Optional(Type.String()),
      kind: Type.String({
        description:
          'truncated, gap, altered, bad_signature, checkpoint_missing, chain_missing or head_unreadable',
      }),
      firstMissingSeq: Type.Optional(Type.Integer({ description: 'the first position missing' })),
      seq: Type.Optional(Type.Integer()),
    }),
  ),
});
