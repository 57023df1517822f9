import { type Static, Type } from '@sinclair/typebox';
import { Timestamp } from './common-schemas.ts';

/** One change of a project's feed (SPEC §9, issue 13): metadata only, never a value. */
export const ChangeEventView = Type.Object({
  cursor: Type.String({ description: 'opaque, increasing; pass it as `after` or `Last-Event-ID`' }),
  time: Timestamp,
  type: Type.String({ description: 'what happened, e.g. version.added (docs/changes.md lists the types)' }),
  resource: Type.String({ description: 'the full name of the resource that changed' }),
  version: Type.Optional(Type.Integer()),
  stage: Type.Optional(Type.String()),
  principal: Type.String(),
});
export type ChangeEventView = Static<typeof ChangeEventView>;

/** `GET /v2/projects/{p}/changes` query. */
export const ChangesQueryString = Type.Object(
  {
    after: Type.Optional(Type.String({ maxLength: 200, description: 'changes after this cursor' })),
    pageSize: Type.Optional(Type.Integer({ minimum: 1 })),
    resource: Type.Optional(Type.String({ maxLength: 2048, description: 'resource name prefix' })),
  },
  { additionalProperties: false },
);
export type ChangesQueryString = Static<typeof ChangesQueryString>;

/** `GET /v2/projects/{p}/changes` answer: `nextCursor` is where the next read starts. */
export const ChangesPageView = Type.Object({
  items: Type.Array(ChangeEventView),
  nextCursor: Type.String(),
});
export type ChangesPageView = Static<typeof ChangesPageView>;
