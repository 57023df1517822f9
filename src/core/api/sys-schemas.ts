import { type Static, Type } from '@sinclair/typebox';
import { Body } from './common-schemas.ts';

/** `GET /v2/health` answer. */
export const HealthView = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('sealed')]),
  version: Type.String(),
  storage: Type.Object({
    engine: Type.String(),
    status: Type.Union([Type.Literal('ok'), Type.Literal('failing')]),
  }),
  /** Always sent by this version; optional for clients of older servers. */
  cluster: Type.Optional(
    Type.Object({
      nodeId: Type.String({ description: 'this node: a random id, new on every start' }),
      nodes: Type.Union([Type.Array(Type.String()), Type.Null()], {
        description:
          'ids of the nodes connected to the same database, this one included (PostgreSQL: its sessions; SQLite: this node); null while the database cannot be asked',
      }),
    }),
  ),
});
export type HealthView = Static<typeof HealthView>;

/** Seal status, as `GET /v2/sys/seal-status` and unseal answer. */
export const SealStatusView = Type.Object({
  type: Type.Union([Type.Literal('file'), Type.Literal('shamir')]),
  initialized: Type.Boolean(),
  sealed: Type.Boolean(),
  threshold: Type.Integer(),
  progress: Type.Integer({ description: 'shares given to the unseal attempt named by nonce' }),
  shares: Type.Integer(),
  nonce: Type.String({
    description:
      'the unseal attempt: returned to whoever gives its first share, and to a caller who names it; empty otherwise',
  }),
  attemptFailed: Type.Boolean({ description: 'the named attempt failed: one of its shares was wrong' }),
});
export type SealStatusView = Static<typeof SealStatusView>;

/** `POST /v2/sys/init` body. */
export const InitBody = Body({
  secretShares: Type.Integer({ minimum: 2, maximum: 255 }),
  secretThreshold: Type.Integer({ minimum: 2, maximum: 255 }),
});
export type InitBody = Static<typeof InitBody>;

/** `POST /v2/sys/init` answer: shown once. */
export const InitView = Type.Object({
  keys: Type.Array(Type.String(), { description: 'base64 Shamir shares; shown once' }),
  rootToken: Type.String({ description: 'the first admin token; shown once' }),
});
export type InitView = Static<typeof InitView>;

/** `POST /v2/sys/unseal` body. */
export const UnsealBody = Body({
  key: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'one base64 share' })),
  reset: Type.Optional(Type.Boolean()),
  nonce: Type.Optional(
    Type.String({
      maxLength: 64,
      description: 'the attempt to continue (or to reset); omitted, the share starts a new attempt',
    }),
  ),
});
export type UnsealBody = Static<typeof UnsealBody>;

/** `GET /v2/sys/seal-status` query: `nonce` names the unseal attempt whose progress to report. */
export const SealStatusQuery = Type.Object(
  { nonce: Type.Optional(Type.String({ maxLength: 64 })) },
  { additionalProperties: false },
);
export type SealStatusQuery = Static<typeof SealStatusQuery>;
